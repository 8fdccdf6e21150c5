"""Local file mechanisms every layer uses: durable atomic replacement and ``key=value`` files."""
