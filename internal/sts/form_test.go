package sts

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseForm(t *testing.T) {
	f, err := ParseForm(nil, "a=1&&b=x+y%2Fz&a=2&c&=e")
	if err != nil {
		t.Fatal(err)
	}
	f, err = ParseForm(f, "b=query&d=4")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "1", "b": "x y/z", "c": "", "": "e", "d": "4", "zz": ""} {
		if got := f.Get(name); got != want {
			t.Errorf("Get(%q) = %q, want %q", name, got, want)
		}
	}
	for _, bad := range []string{"a=%zz", "a%=1", "a=1;b=2", "a;=1", strings.Repeat("a=1&", maxParams+1)} {
		if _, err := ParseForm(nil, bad); err == nil {
			t.Errorf("ParseForm(%.20q) accepted", bad)
		}
	}
}

// FuzzParseForm: ParseForm agrees with url.ParseQuery on what it accepts
// and on the first value of every name.
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "a=%zz", "a;b", "x=1+2%20&&=y&x=3", "%41=%42", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseForm(nil, s)
		want, werr := url.ParseQuery(s)
		if (err == nil) != (werr == nil) {
			if err != nil && len(got) >= maxParams {
				return
			}
			t.Fatalf("ParseForm(%q) error %v, url.ParseQuery error %v", s, err, werr)
		}
		if err != nil {
			return
		}
		n := 0
		for _, vs := range want {
			n += len(vs)
		}
		if n != len(got) {
			t.Fatalf("ParseForm(%q) has %d pairs, url.ParseQuery %d", s, len(got), n)
		}
		for name, vs := range want {
			if g := got.Get(name); g != vs[0] {
				t.Fatalf("ParseForm(%q).Get(%q) = %q, url.ParseQuery %q", s, name, g, vs[0])
			}
		}
	})
}
