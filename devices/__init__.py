"""Serial hardware for the hall: ticket printers, call keypads, satisfaction keypads,
LED strips, and the device agent that binds them to the server.

Layers, from the bottom: sans-I/O codecs (``escpos``, ``ff68``, ``frames``), a thin
serial transport (``serial_port``), supervisors that own a port's lifetime
(``supervisor``), device drivers (``printer``, ``keypad``, ``bus``), and the agent
(``agent``, ``hub``) that speaks the WebSocket protocol through the shared
``queue_server.protocol.client.HallClient``.
"""
