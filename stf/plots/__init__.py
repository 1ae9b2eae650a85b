"""Pictures: what a command draws, as data (figure), on the screen
(terminal) and in a PNG file (png, matplotlib imported only there).

Commands build a Figure and return it in a results.Plot; the console draws
it to the screen's width, or writes it with --png FILE. The room imports
only stf.core and numpy (matplotlib when a PNG is asked for).
"""
