"""The size limits of templates and subject lines (docs/templates.md, "Limits"), in one place.

Standard library only: ``tailor rules check`` validates subjects against them without loading the renderer.
Numbers are characters (Python ``str`` length), not bytes.
"""

from __future__ import annotations

#: One value a template builds with an operator, a filter or a method (``'x' * n``, ``a ~ b``, ``|join``,
#: ``.replace()``...): refused before it is built. Values that come from the data are not limited here.
MAX_VALUE_CHARS = 100_000
#: ``range()`` in a template: at most this many numbers (Jinja's own sandbox allows 100,000).
MAX_RANGE = 1_000
#: ``a ** b`` on whole numbers: a result of at most this many bits (about 3,000 digits).
MAX_POWER_BITS = 10_000
#: ``|tojson(indent)``: at most this many spaces of indentation.
MAX_JSON_INDENT = 8

#: One template file (layout or block).
MAX_TEMPLATE_FILE_CHARS = 100_000
#: The rendered HTML of one email, and its plain-text part: rendering stops and fails past this (Gmail already
#: clips messages over about 100 KB; the emails Tailor ships are about 30,000 characters).
MAX_EMAIL_CHARS = 1_000_000

#: The subject template as written in the rule file.
MAX_SUBJECT_SOURCE_CHARS = 1_000
#: The subject line sent: longer with a sample recipient is a check-time error; made longer by a recipient's
#: data, it is cut at a word and ends with "…".
MAX_SUBJECT_CHARS = 250
#: Rendering a subject stops collecting output here (the line is cut to MAX_SUBJECT_CHARS afterwards anyway).
MAX_SUBJECT_RENDER_CHARS = 10_000
