"""The realtime (speech-to-speech) event protocol of Azure Voice Live and OpenAI realtime."""
