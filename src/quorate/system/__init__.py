"""What quorate needs of the operating system, below everything that does I/O: running programs with a deadline
(`process`) and replacing files so that a crash leaves the old or the new content, whole (`files`).

This package knows nothing of clusters; it sits beside the pure core at the bottom of the layers.
"""
