#!/usr/bin/env python3
# scripts/check_comments.py — every exported function in src/*.c, and every
# static one whose body is longer than 15 lines, has a comment directly above
# its definition (above the return type, or above PG_FUNCTION_INFO_V1 for an
# SQL-callable entry point).  Prints each offender as
# "file line name static|extern body-lines" and exits 1; exits 0 when none.
#   scripts/check_comments.py          check this tree
#   scripts/check_comments.py DIR      check the tree rooted at DIR
import glob
import os
import re
import sys

STATIC_BODY_LIMIT = 15

root = sys.argv[1] if len(sys.argv) > 1 else \
    os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
if not os.path.isdir(os.path.join(root, 'src')):
    print('check_comments.py: %s has no src/ directory' % root, file=sys.stderr)
    sys.exit(2)

missing = []
for f in sorted(glob.glob(os.path.join(root, 'src', '*.c'))):
    lines = open(f).read().split('\n')
    for i, l in enumerate(lines):
        # function definition: name at column 0 followed by '(', then lines
        # until '{' at column 0 (a ';' first means a prototype)
        m = re.match(r'^([A-Za-z_][A-Za-z0-9_]*)\(', l)
        if not m:
            continue
        j = i
        while j < len(lines) and not lines[j].startswith('{') \
                and not lines[j].rstrip().endswith(';'):
            j += 1
        if j >= len(lines) or not lines[j].startswith('{'):
            continue
        # return type line(s) above
        k = i - 1
        static = lines[k].startswith('static') or \
            (k > 0 and lines[k - 1].startswith('static'))
        # body length
        e = j
        while e < len(lines) and lines[e] != '}':
            e += 1
        body = e - j
        # skip attribute/type lines
        while k >= 0 and lines[k].strip() \
                and not lines[k].strip().endswith('*/') \
                and not lines[k].startswith('}') \
                and not lines[k].startswith('#') \
                and not lines[k].startswith('PG_FUNCTION_INFO_V1'):
            k -= 1
        # an SQL-callable entry point: its comment sits above the
        # PG_FUNCTION_INFO_V1 line
        if k >= 0 and lines[k].startswith('PG_FUNCTION_INFO_V1'):
            k -= 1
        has = k >= 0 and lines[k].strip().endswith('*/')
        if not has and (not static or body > STATIC_BODY_LIMIT):
            missing.append((os.path.relpath(f, root), i + 1, m.group(1),
                            'static' if static else 'extern', body))

for x in missing:
    print(*x)
if missing:
    print('check_comments.py: %d function(s) without a header comment'
          % len(missing), file=sys.stderr)
    sys.exit(1)
sys.exit(0)
