"""The transport: authenticated message streams between a client and a host or proc.

Bottom to top: :mod:`~meshtrio._transport.handshake` (credentials, AU-1/AU-2),
:mod:`~meshtrio._transport.frame_stream` (FrameStream, SK-1..3),
:mod:`~meshtrio._transport.message_streams` (MessageStream and its two implementations),
:mod:`~meshtrio._transport.rpc` (Peer, RPC-1..3),
:mod:`~meshtrio._transport.interface` (the Transport protocol),
:mod:`~meshtrio._transport.websocket` (``tcp:``/``unix:``, TR-1, TR-2, TR-4, TR-5),
:mod:`~meshtrio._transport.memory` (``local:``, per Trio run),
:mod:`~meshtrio._transport.translate` (library errors to meshtrio errors), and
:mod:`~meshtrio._transport.endpoints` (``connect``/``serve``: the transport per address kind, TR-3).
"""
