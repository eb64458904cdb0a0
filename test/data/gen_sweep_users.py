#!/usr/bin/env python3
"""Generates sweep_users.ndjson: the MongoDB copy of sql/sweep.sql's
s_users rows, with benign representation differences (never reported) and
real drift (reported exactly).  Run it from this directory after editing."""
import base64, datetime, json

EPOCH = datetime.datetime(1970, 1, 1)
def ms(dt): return int(round((dt - EPOCH).total_seconds() * 1000))
def D(v): return {"$date": {"$numberLong": str(v)}}
def b64(b): return base64.b64encode(b).decode()

docs = []
for g in range(1, 31):
    login = datetime.datetime(2024, 3, 1, 10, 0, 0, 123000) + datetime.timedelta(minutes=g)
    d = {
        "_id": {"$numberInt": str(g)},
        "name": "user%d" % g,
        "email": "u%d@example.com" % g,
        "score": {"$numberDouble": repr(g * 1.25)},
        "ratio": {"$numberDouble": repr(g / 4.0)},
        "born": D(ms(datetime.datetime(1990, 1, 1) + datetime.timedelta(days=g))),
        "last_login": D(ms(login)),
        "local_ts": D(ms(datetime.datetime(2024, 3, 1, 8, 0, 0) + datetime.timedelta(seconds=g))),
        "uid": {"$binary": {"base64": b64(bytes(14) + g.to_bytes(2, "big")), "subType": "04"}},
        "avatar": {"$binary": {"base64": b64(g.to_bytes(2, "big")), "subType": "00"}},
        "prefs": {"theme": "dark", "langs": ["en", "fr"], "n": {"$numberInt": str(g)}},
        "active": g % 2 == 0,
    }
    if g % 3 != 0:
        d["note"] = "note %d" % g
    # benign representation differences (must not be reported)
    if g == 4: d["score"] = {"$numberInt": "5"}                    # numeric 5.00 vs int32
    if g == 5: d["born"] = "1990-01-06"                            # date as a string
    if g == 6: d["uid"] = "00000000-0000-0000-0000-000000000006"   # uuid as a string
    if g == 7: d["prefs"] = {"n": {"$numberInt": "7"}, "langs": ["en", "fr"], "theme": "dark"}
    if g == 8: d["score"] = {"$numberLong": "10"}                  # numeric 10.00 vs int64
    if g == 9: d["_id"] = {"$numberLong": "9"}                     # int64 _id
    if g == 10: d["prefs"]["n"] = {"$numberDouble": "10.0"}        # 10 vs 10.0 in jsonb
    if g == 12: d["app_cache"] = {"hits": 3}                       # unmapped field
    if g == 15: d["note"] = None                                   # null vs NULL
    # real drift (must be reported exactly)
    if g == 20: continue                                           # missing document
    if g == 21: d["name"] = "user21-stale"                         # stale field
    if g == 22: d["score"] = "27.50"                               # wrong type
    if g == 23: d["last_login"] = D(ms(login) + 2 * 3600 * 1000)   # shifted time zone
    if g == 24: d["note"] = "should be null"                       # NULL in PostgreSQL
    if g == 25: d["prefs"]["theme"] = "light"                      # nested value
    if g == 26: d["prefs"]["langs"] = ["fr", "en"]                 # array order
    if g == 28: d["uid"] = {"$binary": {"base64": b64(bytes(15) + b"\x99"), "subType": "04"}}
    if g == 29: d["last_login"] = D(ms(login) + 1)                 # 1 ms off
    if g == 30: d["active"] = {"$numberInt": "1"}                  # bool stored as int
    docs.append(d)
docs.append({"_id": {"$numberInt": "1000"}, "name": "ghost"})              # extra
docs.append({"_id": "abc", "name": "string key"})                        # _id of another type
docs.append({"_id": {"$numberDouble": "27.5"}, "name": "fractional key"})  # not an integer

with open("sweep_users.ndjson", "w") as f:
    for d in docs:
        f.write(json.dumps(d) + "\n")
