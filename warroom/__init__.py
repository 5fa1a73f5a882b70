"""warroom: chat-ops for major incidents."""
