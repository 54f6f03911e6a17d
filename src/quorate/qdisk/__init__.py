"""The quorum disk's I/O side: on-disk format, device access and scan, the asyncio service.

The decisions live in `quorate.core.qdisk`; everything here moves bytes (docs/qdisk-format.md).
"""
