"""Azure Communication Services media streaming: the wire codec and a media-stream client."""
