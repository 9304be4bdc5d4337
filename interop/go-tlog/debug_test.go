package main

import (
	"bytes"
	"testing"
	"golang.org/x/mod/sumdb/tlog"
)

func TestDebugConsistentTamper(t *testing.T) {
	l := buildLog(t, 700)
	// replace leaf 259 and its level-0 hash consistently
	newLeaf := bytes.Replace(l.leaves[259], []byte(`1700000000259`), []byte(`1700000000999`), 1)
	l.tamper["tile/entries/001"] = func(b []byte) []byte {
		entries, _ := parseBundle(b, 256); entries[3] = newLeaf
		var out []byte
		for _, e := range entries { out = append(out, byte(len(e)>>8), byte(len(e))); out = append(out, e...) }
		return out
	}
	l.tamper["tile/0/001"] = func(b []byte) []byte { h := tlog.RecordHash(newLeaf); copy(b[3*32:], h[:]); return b }
	sum, err := verify(l.config(l.start(t)))
	t.Logf("sum=%v err=%v", sum, err)
}
