"""`python -m testing.fake_realtime --port 8765`: the fake realtime service on loopback."""

from testing.fake_realtime.server import main

if __name__ == "__main__":
    main()
