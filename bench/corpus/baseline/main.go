// Command baseline is the driver-script reconciler of the corpus benchmark
// (bench/corpus_bench.sh): what a DBA would write in a day with the official
// drivers to check that the application's MongoDB copy of two PostgreSQL
// tables is right.
//
// For each table it loads the whole collection into a map keyed by _id,
// streams the table with pgx, normalises both sides to comparable strings
// (numbers as float64, timestamps and dates as epoch milliseconds, uuids as
// hex, json/arrays as canonical JSON, NULL = absent field) and compares
// column by column. There is no re-check: a row changed while the script
// runs is reported as it was seen, which is what makes it a baseline.
//
//	baseline -mongo mongodb://127.0.0.1:27017/ -db corpus
//
// PostgreSQL is reached through the usual PG* environment variables.
// Divergences go to stdout, one per line: "<kind> <table> <key> [fields]",
// with kind missing (row without document), extra (document without row)
// or mismatch; a composite key is written "a/b". The summary goes to stderr.
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// column: a table column and where the application stores it.
type column struct {
	name string // PostgreSQL column
	path string // dotted document path
}

// table: one table/collection pair, key columns first in the SELECT.
type table struct {
	name       string
	collection string
	key        []string
	columns    []column
}

// The schema the application writes (see bench/corpus/corpus.sql).
var tables = []table{
	{
		name: "customers", collection: "customers", key: []string{"id"},
		columns: []column{
			{"name", "name"}, {"email", "email"}, {"balance", "balance"},
			{"score", "score"}, {"active", "active"}, {"visits", "visits"},
			{"created_at", "created_at"}, {"birth_date", "birth_date"},
			{"ext_id", "ext_id"}, {"prefs", "prefs"}, {"tags", "tags"},
		},
	},
	{
		name: "orders", collection: "orders", key: []string{"customer_id", "order_no"},
		columns: []column{
			{"status", "status"}, {"total", "total"}, {"placed_at", "placed_at"},
			{"ship_city", "shipping.city"}, {"ship_zip", "shipping.zip"},
			{"ship_country", "shipping.country"}, {"items", "items"}, {"note", "note"},
		},
	},
}

func main() {
	uri := flag.String("mongo", os.Getenv("RECON_TEST_MONGO_URI"), "MongoDB URI")
	db := flag.String("db", "corpus", "MongoDB database")
	only := flag.String("only", "", "check this table only")
	flag.Parse()
	if *uri == "" {
		fail("no MongoDB URI: -mongo or RECON_TEST_MONGO_URI")
	}

	ctx := context.Background()
	start := time.Now()
	pg, err := pgx.Connect(ctx, "") // PGHOST, PGPORT, PGUSER, PGDATABASE
	check(err, "connect to PostgreSQL")
	defer pg.Close(ctx)
	mc, err := mongo.Connect(ctx, options.Client().ApplyURI(*uri))
	check(err, "connect to MongoDB")
	defer mc.Disconnect(ctx)

	out := &writer{bufio.NewWriter(os.Stdout)}
	total := 0
	for _, t := range tables {
		if *only != "" && t.name != *only {
			continue
		}
		t0 := time.Now()
		rows, docs, n, loaded := reconcile(ctx, pg, mc.Database(*db).Collection(t.collection), t, out)
		total += n
		fmt.Fprintf(os.Stderr, "baseline: %s: rows=%d docs=%d divergences=%d seconds=%.3f (collection into the map %.3f, table streamed and compared %.3f)\n",
			t.name, rows, docs, n, time.Since(t0).Seconds(), loaded.Sub(t0).Seconds(), time.Since(loaded).Seconds())
	}
	out.Flush()
	fmt.Fprintf(os.Stderr, "baseline: elapsed_s=%.3f divergences=%d\n", time.Since(start).Seconds(), total)
}

// reconcile checks one table; it returns rows read, documents read, the
// number of divergences written to out and when the collection was loaded.
func reconcile(ctx context.Context, pg *pgx.Conn, coll *mongo.Collection, t table, out *writer) (int, int, int, time.Time) {
	// 1. The whole collection into memory, keyed by _id.
	docs := make(map[string]bson.Raw)
	cur, err := coll.Find(ctx, bson.D{})
	check(err, "find "+t.collection)
	for cur.Next(ctx) {
		raw := make(bson.Raw, len(cur.Current))
		copy(raw, cur.Current)
		docs[docKey(raw.Lookup("_id"))] = raw
	}
	check(cur.Err(), "read "+t.collection)
	cur.Close(ctx)
	ndocs := len(docs)
	loaded := time.Now()

	// 2. Stream the table and compare each row with its document.
	cols := append([]string{}, t.key...)
	for _, c := range t.columns {
		cols = append(cols, c.name)
	}
	rows, err := pg.Query(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+t.name)
	check(err, "query "+t.name)
	nrows, ndiv := 0, 0
	for rows.Next() {
		vals, err := rows.Values()
		check(err, "read "+t.name)
		nrows++
		parts := make([]string, len(t.key))
		for i := range t.key {
			parts[i] = fmt.Sprint(vals[i])
		}
		key := strings.Join(parts, "/")
		doc, ok := docs[key]
		if !ok {
			out.line("missing", t.name, key, "")
			ndiv++
			continue
		}
		delete(docs, key)
		var diff []string
		for i, c := range t.columns {
			v, err := doc.LookupErr(strings.Split(c.path, ".")...)
			d := "null"
			if err == nil {
				d = normBSON(v)
			}
			if normPG(vals[len(t.key)+i]) != d {
				diff = append(diff, c.path)
			}
		}
		if len(diff) > 0 {
			out.line("mismatch", t.name, key, strings.Join(diff, ","))
			ndiv++
		}
	}
	check(rows.Err(), "read "+t.name)

	// 3. Documents no row claimed.
	extra := make([]string, 0, len(docs))
	for k := range docs {
		extra = append(extra, k)
	}
	sort.Strings(extra)
	for _, k := range extra {
		out.line("extra", t.name, k, "")
	}
	return nrows, ndocs, ndiv + len(extra), loaded
}

// docKey: the _id as the script's key string, integers in decimal and a
// composite _id as its values joined by "/".
func docKey(v bson.RawValue) string {
	switch v.Type {
	case bsontype.Int32, bsontype.Int64, bsontype.Double:
		return strconv.FormatInt(int64(float(v)), 10)
	case bsontype.String:
		return v.StringValue()
	case bsontype.EmbeddedDocument:
		elems, _ := v.Document().Elements()
		parts := make([]string, len(elems))
		for i, e := range elems {
			parts[i] = docKey(e.Value())
		}
		return strings.Join(parts, "/")
	}
	return v.String()
}

// normPG: a PostgreSQL value as pgx returns it, in the comparison form.
func normPG(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "s:" + x
	case bool:
		return "b:" + strconv.FormatBool(x)
	case int16:
		return num(float64(x))
	case int32:
		return num(float64(x))
	case int64:
		return num(float64(x))
	case float32:
		return num(float64(x))
	case float64:
		return num(x)
	case pgtype.Numeric:
		f, err := x.Float64Value()
		check(err, "numeric")
		return num(f.Float64)
	case time.Time: // timestamptz and date (midnight UTC)
		return "t:" + strconv.FormatInt(x.UnixMilli(), 10)
	case [16]byte: // uuid
		return "u:" + hex.EncodeToString(x[:])
	case map[string]any, []any: // jsonb, arrays
		return "j:" + canonJSON(x)
	}
	return fmt.Sprintf("?%T:%v", v, v)
}

// normBSON: a document value in the comparison form.
func normBSON(v bson.RawValue) string {
	switch v.Type {
	case bsontype.Null, bsontype.Undefined:
		return "null"
	case bsontype.String:
		return "s:" + v.StringValue()
	case bsontype.Boolean:
		return "b:" + strconv.FormatBool(v.Boolean())
	case bsontype.Int32:
		return num(float64(v.Int32()))
	case bsontype.Int64:
		return num(float64(v.Int64()))
	case bsontype.Double:
		return num(v.Double())
	case bsontype.Decimal128:
		f, err := strconv.ParseFloat(v.Decimal128().String(), 64)
		check(err, "decimal128")
		return num(f)
	case bsontype.DateTime:
		return "t:" + strconv.FormatInt(v.DateTime(), 10)
	case bsontype.Binary:
		sub, data := v.Binary()
		if sub == 4 {
			return "u:" + hex.EncodeToString(data)
		}
		return "x:" + hex.EncodeToString(data)
	case bsontype.EmbeddedDocument, bsontype.Array:
		return "j:" + canonJSON(plain(v))
	}
	return "?" + v.String()
}

// plain: a BSON document or array as the map/slice/float64 values that
// encoding/json produces for the same JSON, so both sides marshal alike.
func plain(v bson.RawValue) any {
	switch v.Type {
	case bsontype.EmbeddedDocument:
		elems, _ := v.Document().Elements()
		m := make(map[string]any, len(elems))
		for _, e := range elems {
			m[e.Key()] = plain(e.Value())
		}
		return m
	case bsontype.Array:
		vals, _ := v.Array().Values()
		a := make([]any, len(vals))
		for i, e := range vals {
			a[i] = plain(e)
		}
		return a
	case bsontype.Int32, bsontype.Int64, bsontype.Double:
		return float(v)
	case bsontype.Decimal128:
		f, _ := strconv.ParseFloat(v.Decimal128().String(), 64)
		return f
	case bsontype.String:
		return v.StringValue()
	case bsontype.Boolean:
		return v.Boolean()
	case bsontype.Null:
		return nil
	}
	return v.String() // dates, binaries...: never equal to JSON
}

// writer: the divergence lines on stdout.
type writer struct{ *bufio.Writer }

func (w *writer) line(kind, table, key, fields string) {
	fmt.Fprintf(w, "%s %s %s %s\n", kind, table, key, fields)
}

// float: a BSON int32, int64 or double as float64.
func float(v bson.RawValue) float64 {
	switch v.Type {
	case bsontype.Int32:
		return float64(v.Int32())
	case bsontype.Int64:
		return float64(v.Int64())
	}
	return v.Double()
}

func canonJSON(v any) string {
	b, err := json.Marshal(v) // map keys sorted
	check(err, "json")
	return string(b)
}

func num(f float64) string { return "n:" + strconv.FormatFloat(f, 'g', -1, 64) }

func check(err error, what string) {
	if err != nil {
		fail(what + ": " + err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "baseline: "+msg)
	os.Exit(1)
}
