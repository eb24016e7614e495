package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type identity struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	ClientID string            `json:"clientId"`
	Location string            `json:"location"`
	Tags     map[string]string `json:"tags,omitempty"`
	Enabled  bool              `json:"enabled"`
	Count    int               `json:"count"`
	Ratio    float64           `json:"ratio"`
	Big      float64           `json:"big"`
	Note     *string           `json:"note"`
}

var (
	note = "x"
	idA  = identity{ID: "/s/rg/a", Name: "a", ClientID: "c-1", Location: "wëst€", Tags: map[string]string{"env": "dev"},
		Enabled: true, Count: 1, Ratio: 1.5, Big: 1e21}
	idB = identity{ID: "/s/rg/b", Name: "bb", ClientID: "c-2", Location: "east", Count: 0, Ratio: 0.25, Big: 2, Note: &note}
	ids = []identity{idA, idB}
)

// writeCases are golden outputs of az (knack 0.10, tabulate 0.8) for the
// same JSON and query.
var writeCases = []struct {
	name   string
	format Format
	query  string
	v      any
	want   string
}{
	{"json object", JSON, "", idA, `{
  "big": 1e+21,
  "clientId": "c-1",
  "count": 1,
  "enabled": true,
  "id": "/s/rg/a",
  "location": "wëst€",
  "name": "a",
  "note": null,
  "ratio": 1.5,
  "tags": {
    "env": "dev"
  }
}
`},
	{"json scalar query", JSON, "clientId", idA, "\"c-1\"\n"},
	{"json null query prints nothing", JSON, "note", idA, ""},
	{"json nil prints nothing", JSON, "", nil, ""},
	{"json multiselect keys sorted", JSON, "[].{n:name, r:ratio}", ids, `[
  {
    "n": "a",
    "r": 1.5
  },
  {
    "n": "bb",
    "r": 0.25
  }
]
`},
	{"json empty containers", JSON, "", map[string]any{"l": []int{}, "m": map[string]int{}}, `{
  "l": [],
  "m": {}
}
`},
	{"json escapes only what python escapes", JSON, "", "q\"\\\n\t\x01\x7fé😀<>&\u2028", "\"q\\\"\\\\\\n\\t\\u0001\x7fé😀<>&\u2028\"\n"},
	{"json numbers", JSON, "", []float64{1, 1.5, 1e21, -0.0, 1e-7, 0.0001, 1e16, 123456789.125}, `[
  1,
  1.5,
  1e+21,
  0,
  1e-07,
  0.0001,
  10000000000000000,
  123456789.125
]
`},
	{"jsonc is json", JSONC, "name", idA, "\"a\"\n"},
	{"json length", JSON, "length(@)", ids, "2\n"},

	{"tsv scalar", TSV, "clientId", idA, "c-1\n"},
	{"tsv object sorted by key", TSV, "", idA, "1e+21\tc-1\t1\tTrue\t/s/rg/a\twëst€\ta\tNone\t1.5\t\n"},
	{"tsv projection", TSV, "[].name", ids, "a\nbb\n"},
	{"tsv filter pipe", TSV, "[?name=='bb'].id | [0]", ids, "/s/rg/b\n"},
	{"tsv multiselect keeps query order", TSV, "{n:name, id:id}", idA, "a\t/s/rg/a\n"},
	{"tsv multiselect list", TSV, "[].{id:id, n:name}", ids, "/s/rg/a\ta\n/s/rg/b\tbb\n"},
	{"tsv top-level booleans lower case", TSV, "[].enabled", ids, "true\nfalse\n"},
	{"tsv nested booleans, nulls, lists, dicts", TSV, "[].[name, enabled, note, tags, [count, ratio]]", ids, "a\tTrue\tNone\t\t2\nbb\tFalse\tx\tNone\t2\n"},
	{"tsv numbers", TSV, "", []any{1, 1.5, 1e21, 1e-7, nil, "s p"}, "1\n1.5\n1e+21\n1e-07\nNone\ns p\n"},
	{"tsv empty list", TSV, "", []int{}, ""},
	{"tsv unicode kept", TSV, "location", idA, "wëst€\n"},

	// Columns appear in the order keys first appear; null cells are blank.
	{"table list sorted keys without query", Table, "", ids, `Big    ClientId    Count    Enabled    Location    Name    Ratio    Note
-----  ----------  -------  ---------  ----------  ------  -------  ------
1e+21  c-1         1        True       wëst€       a       1.5
2      c-2         0        False      east        bb      0.25     x
`},
	{"table multiselect keeps query order and drops id", Table, "[].{n:name, id:id, c:clientId}", ids, `N    C
---  ---
a    c-1
bb   c-2
`},
	{"table scalars", Table, "[].name", ids, `Result
--------
a
bb
`},
	{"table single object", Table, "{Name:name, tags:tags}", idA, `Name
------
a
`},
	{"table list rows", Table, "[].[name, tags, enabled]", ids, `Column1    Column2         Column3
---------  --------------  ---------
a          {'env': 'dev'}  True
bb                         False
`},
	{"table empty list", Table, "", []int{}, "\n"},
	{"table strips and splits lines", Table, "", []map[string]string{{"a": " x \ny"}, {"a": ""}}, `A
---
x
y
`},

	{"none", None, "", idA, ""},
}

func TestWrite(t *testing.T) {
	for _, tc := range writeCases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Write(&b, tc.v, tc.query, tc.format); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("output mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteInvalidQuery(t *testing.T) {
	for _, tc := range []struct{ query, msg string }{
		{"[?name=='a'", `argument --query: invalid jmespath_type value: "[?name=='a'"`},
		{"a.", `argument --query: invalid jmespath_type value: 'a.'`},
		{"{a:}", `argument --query: invalid jmespath_type value: '{a:}'`},
	} {
		err := Write(&bytes.Buffer{}, idA, tc.query, JSON)
		var qe *QueryError
		if !errors.As(err, &qe) {
			t.Fatalf("Write(%q) error = %v, want *QueryError", tc.query, err)
		}
		if qe.Query != tc.query || qe.Err == nil {
			t.Errorf("QueryError = %+v", qe)
		}
		if err.Error() != tc.msg {
			t.Errorf("message = %q, want %q", err.Error(), tc.msg)
		}
		if err := ValidateQuery(tc.query); !errors.As(err, &qe) {
			t.Errorf("ValidateQuery(%q) = %v, want *QueryError", tc.query, err)
		}
	}
	if err := ValidateQuery(""); err != nil {
		t.Errorf("ValidateQuery(\"\") = %v", err)
	}
}

func TestWriteQueryRuntimeError(t *testing.T) {
	err := Write(&bytes.Buffer{}, idA, "length(count)", JSON)
	var qe *QueryError
	if err == nil || errors.As(err, &qe) {
		t.Fatalf("Write error = %v, want a non-QueryError", err)
	}
}

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Format
	}{{"json", JSON}, {"JSON", JSON}, {"jsonc", JSONC}, {"tsv", TSV}, {"Table", Table}, {"none", None}} {
		got, err := ParseFormat(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "yaml", "x"} {
		_, err := ParseFormat(in)
		if !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("ParseFormat(%q) error = %v, want ErrUnknownFormat", in, err)
		}
		if err != nil && !strings.Contains(err.Error(), "allowed values: json, jsonc, none, table, tsv") {
			t.Errorf("ParseFormat(%q) error %q does not list the allowed values", in, err)
		}
	}
	if err := Write(&bytes.Buffer{}, idA, "", "yaml"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("Write(yaml) error = %v, want ErrUnknownFormat", err)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteErrors(t *testing.T) {
	sentinel := errors.New("broken pipe")
	if err := Write(failWriter{sentinel}, idA, "", JSON); !errors.Is(err, sentinel) {
		t.Errorf("write error = %v, want %v", err, sentinel)
	}
	if err := Write(&bytes.Buffer{}, func() {}, "", JSON); err == nil {
		t.Error("unmarshalable value: want error")
	}
}

func TestHashKeyOrders(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  keyOrder
	}{
		{"name", nil},
		{"{b: b, a: a}", keyOrder{{"b", "a"}}},
		{"[].{z: x, \"a,}\": join(',', [b, 'c,}']), y: {q: `{\"k\": 1}`, p: p}}", keyOrder{{"z", "a,}", "y"}, {"q", "p"}}},
		{"{\"q\\\"k\": a, b: 'it\\'s, {x: y}', c: c}", keyOrder{{"q\"k", "b", "c"}}},
		{"{a: a, a: b}", keyOrder{{"a"}}},
	} {
		if diff := cmp.Diff(tc.want, hashKeyOrders(tc.query)); diff != "" {
			t.Errorf("hashKeyOrders(%q) (-want +got):\n%s", tc.query, diff)
		}
	}
}

func TestPyRepr(t *testing.T) {
	for in, want := range map[string]string{
		"a":       "'a'",
		"it's":    `"it's"`,
		`'"`:      `'\'"'`,
		"a\\b\n":  `'a\\b\n'`,
		"é\x01\t": `'é\x01\t'`,
		"\u200b":  `'\u200b'`,
	} {
		if got := pyRepr(in); got != want {
			t.Errorf("pyRepr(%q) = %s, want %s", in, got, want)
		}
	}
}

func FuzzWrite(f *testing.F) {
	f.Add([]byte(`[{"name":"a","id":"x","n":1.5,"t":{"k":null}}]`), "[].{n:name, i:id}", uint8(0))
	f.Add([]byte(`{"a":[1,[true,"x\ny"]],"b":"é"}`), "a", uint8(1))
	f.Add([]byte(`"s"`), "", uint8(2))
	f.Add([]byte(`[[1e21,null],{}]`), "[*]", uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, query string, fi uint8) {
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		f := formats[int(fi)%len(formats)]
		var b bytes.Buffer
		err := Write(&b, v, query, f)
		var qe *QueryError
		if errors.As(err, &qe) && ValidateQuery(query) == nil {
			t.Fatalf("Write reports %v but ValidateQuery accepts %q", err, query)
		}
		if err == nil && (f == JSON || f == JSONC) && b.Len() > 0 && !json.Valid(b.Bytes()) {
			t.Fatalf("invalid JSON output %q", b.String())
		}
	})
}
