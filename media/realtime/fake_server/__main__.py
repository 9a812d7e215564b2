"""`python -m media.realtime.fake_server --port 8765`: the fake realtime service on loopback."""

from media.realtime.fake_server.server import main

if __name__ == "__main__":
    main()
