"""Local file mechanisms every layer uses: durable atomic replacement, ``key=value`` files,
and the paths named every period, built once."""
