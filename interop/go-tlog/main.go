// Command go-tlog is an independent verifier of a running truce log, written against Go's own
// transparency-log packages (golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog) and
// the C2SP specifications, sharing no code with truce itself.
//
//	go-tlog -url http://127.0.0.1:PORT -vkey VKEY [-receipts FILE] [-old-checkpoint FILE]
//	go-tlog checkpoint -url URL -vkey VKEY [-out FILE] [-min-size N] [-wait DUR]
//	go-tlog submit -url URL -key OPERATOR.key [-n N] [-receipts FILE]
//
// The default mode fetches <url>/log/checkpoint (C2SP tlog-checkpoint), checks the log's
// signature, authenticates the C2SP tlog-tiles hash tiles with tlog.TileHashReader, checks every
// leaf of every entry bundle against the authenticated level-0 hashes, checks receipts (C2SP
// tlog-proof) and the consistency of an older checkpoint with the current one. It prints one
// "ok: ..." line and exits 0, or prints "go-tlog: FAIL: <what and where>" and exits 1 (2 for
// usage errors).
//
// See README.md for what exactly is checked and how to build offline.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// tileHeight is fixed by C2SP tlog-tiles: every tile is a subtree of height 8 (256 hashes).
const (
	tileHeight = 8
	tileWidth  = 1 << tileHeight
)

// emptyRoot is the RFC 6962 root of the empty tree, SHA-256(""). (tlog.TreeHash(0, …) returns
// all zeros instead, so size 0 is handled explicitly everywhere.)
var emptyRoot = tlog.Hash(sha256.Sum256(nil))

const userAgent = "truce-interop-go-tlog/1"

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "submit":
			os.Exit(submitMain(os.Args[2:]))
		case "checkpoint":
			os.Exit(checkpointMain(os.Args[2:]))
		case "verify":
			os.Exit(verifyMain(os.Args[2:]))
		}
	}
	os.Exit(verifyMain(os.Args[1:]))
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// config is everything the verifier needs; main fills it from flags, tests fill it directly.
type config struct {
	LogURL        string        // the C2SP tlog-tiles prefix, e.g. http://127.0.0.1:8080/log
	VKey          string        // the log's signed-note verifier key
	Origin        string        // expected origin ("" = accept the checkpoint's)
	Witnesses     []string      // cosigner vkeys that must have cosigned the current checkpoint
	ReceiptsFile  string        // JSON receipts (see readReceipts)
	OldCheckpoint string        // an earlier signed checkpoint of the same log
	AllowNoProof  bool          // accept receipts whose "proof" is null (checked against the tree only)
	Wait          time.Duration // how long to wait for the checkpoint to cover receipts / old checkpoint
	Jobs          int           // concurrent HTTP requests
	Client        *http.Client
	Log           io.Writer // progress and warnings
}

// summary is what a successful run found.
type summary struct {
	Origin           string
	Size             int64
	Root             tlog.Hash
	Leaves           int64
	Receipts         int
	EnvelopesMatched int
	ReceiptsNoProof  int
	ConsistencyFrom  int64 // -1 if no old checkpoint was given
	Requests         int64
	Warnings         []string
	CosignedBy       []string
	FirstMs, LastMs  int64
}

func (s *summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ok: origin %s, size %d, root %s, %d leaves verified, %d receipts", s.Origin, s.Size, s.Root, s.Leaves, s.Receipts)
	if s.EnvelopesMatched > 0 {
		fmt.Fprintf(&b, " (%d carrying the submitted envelope)", s.EnvelopesMatched)
	}
	if s.ReceiptsNoProof > 0 {
		fmt.Fprintf(&b, " (%d without proof, checked against the tree)", s.ReceiptsNoProof)
	}
	if s.ConsistencyFrom >= 0 {
		fmt.Fprintf(&b, ", consistency from %d", s.ConsistencyFrom)
	} else {
		b.WriteString(", consistency not checked (no -old-checkpoint)")
	}
	if len(s.CosignedBy) > 0 {
		fmt.Fprintf(&b, ", cosigned by %s", strings.Join(s.CosignedBy, ", "))
	}
	if len(s.Warnings) > 0 {
		fmt.Fprintf(&b, ", %d warnings", len(s.Warnings))
	}
	return b.String()
}

func verifyMain(args []string) int {
	fs := flag.NewFlagSet("go-tlog", flag.ContinueOnError)
	url := fs.String("url", "", "base URL of the truce server, e.g. http://127.0.0.1:8080 (the log is read under <url>/log/)")
	logURL := fs.String("log-url", "", "C2SP tlog-tiles prefix, if not <url>/log (e.g. a static mirror)")
	vkey := fs.String("vkey", "", "the log's signed-note verifier key (name+keyid+base64)")
	origin := fs.String("origin", "", "expected checkpoint origin (default: accept the checkpoint's)")
	receipts := fs.String("receipts", "", "JSON receipts file: an array, or a sequence, of POST /v1/entries answers {index, leaf_hash, proof}")
	old := fs.String("old-checkpoint", "", "an earlier signed checkpoint of this log; its consistency with the current one is proven")
	allowNoProof := fs.Bool("allow-missing-proofs", false, "accept receipts whose proof is null (they are still checked against the verified tree)")
	wait := fs.Duration("wait", 15*time.Second, "how long to wait for the log's checkpoint to cover the receipts and the old checkpoint")
	jobs := fs.Int("j", 8, "concurrent HTTP requests")
	timeout := fs.Duration("timeout", 30*time.Second, "timeout of each HTTP request")
	var witnesses listFlag
	fs.Var(&witnesses, "witness", "cosigner vkey (Ed25519 cosignature/v1, type 0x04) that must have cosigned the current checkpoint; repeatable")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go-tlog -url URL -vkey VKEY [-receipts FILE] [-old-checkpoint FILE] [flags]\n"+
			"       go-tlog checkpoint -url URL -vkey VKEY [-out FILE] [-min-size N] [-wait DUR]\n"+
			"       go-tlog submit -url URL -key OPERATOR.key [-n N] [-receipts FILE]\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || (*url == "" && *logURL == "") || *vkey == "" || *jobs < 1 {
		fs.Usage()
		return 2
	}
	cfg := config{
		LogURL:        logPrefix(*url, *logURL),
		VKey:          *vkey,
		Origin:        *origin,
		Witnesses:     witnesses,
		ReceiptsFile:  *receipts,
		OldCheckpoint: *old,
		AllowNoProof:  *allowNoProof,
		Wait:          *wait,
		Jobs:          *jobs,
		Client:        newClient(*timeout, *jobs),
		Log:           os.Stderr,
	}
	sum, err := verify(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-tlog: FAIL: %v\n", err)
		return 1
	}
	fmt.Println(sum.String())
	return 0
}

// newClient is an HTTP client keeping enough idle connections for jobs concurrent requests.
func newClient(timeout time.Duration, jobs int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 2 * jobs
	return &http.Client{Timeout: timeout, Transport: t}
}

func logPrefix(base, logURL string) string {
	if logURL != "" {
		return strings.TrimRight(logURL, "/")
	}
	return strings.TrimRight(base, "/") + "/log"
}

// ---------------------------------------------------------------------------------------------
// Checkpoints (C2SP tlog-checkpoint) and cosignatures (C2SP tlog-cosignature).

// checkpoint is a verified, parsed checkpoint.
type checkpoint struct {
	Origin     string
	Tree       tlog.Tree // N and Hash
	Extensions []string
	Note       *note.Note
	Raw        []byte
}

// openCheckpoint verifies that raw is a signed note carrying a valid signature by logV (and by
// every verifier in required), and parses its body as a C2SP checkpoint. Signatures by unknown
// keys are ignored, as the signed-note spec requires; a bad signature by a known key is an error.
func openCheckpoint(raw []byte, logV note.Verifier, others []note.Verifier, required []note.Verifier) (*checkpoint, error) {
	all := append([]note.Verifier{logV}, others...)
	n, err := note.Open(raw, note.VerifierList(all...))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			var names []string
			for _, s := range unverified.Note.UnverifiedSigs {
				names = append(names, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
			}
			return nil, fmt.Errorf("not signed by the log key %s+%08x (signatures found: %s)", logV.Name(), logV.KeyHash(), orNone(names))
		case errors.As(err, &invalid):
			return nil, fmt.Errorf("signature by %s+%08x does not verify", invalid.Name, invalid.Hash)
		default:
			return nil, fmt.Errorf("not a valid signed note: %v", err)
		}
	}
	if !signedBy(n, logV) {
		return nil, fmt.Errorf("not signed by the log key %s+%08x", logV.Name(), logV.KeyHash())
	}
	for _, w := range required {
		if !signedBy(n, w) {
			return nil, fmt.Errorf("no cosignature by witness %s+%08x", w.Name(), w.KeyHash())
		}
	}
	cp, err := parseCheckpointBody(n.Text)
	if err != nil {
		return nil, err
	}
	cp.Note = n
	cp.Raw = raw
	return cp, nil
}

func signedBy(n *note.Note, v note.Verifier) bool {
	for _, s := range n.Sigs {
		if s.Name == v.Name() && s.Hash == v.KeyHash() {
			return true
		}
	}
	return false
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// parseCheckpointBody parses "<origin>\n<size>\n<base64 root>\n[extension lines\n]".
func parseCheckpointBody(text string) (*checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return nil, errors.New("checkpoint body does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return nil, fmt.Errorf("checkpoint body has %d lines, want at least 3 (origin, size, root)", len(lines))
	}
	cp := &checkpoint{Origin: lines[0]}
	if cp.Origin == "" {
		return nil, errors.New("checkpoint origin line is empty")
	}
	size, err := parseDecimal(lines[1])
	if err != nil {
		return nil, fmt.Errorf("checkpoint size line %q: %v", lines[1], err)
	}
	root, err := parseHashB64(lines[2])
	if err != nil {
		return nil, fmt.Errorf("checkpoint root hash line %q: %v", lines[2], err)
	}
	for i, ext := range lines[3:] {
		if ext == "" {
			return nil, fmt.Errorf("checkpoint extension line %d is empty", i+1)
		}
	}
	cp.Extensions = lines[3:]
	cp.Tree = tlog.Tree{N: size, Hash: root}
	return cp, nil
}

// parseDecimal parses an ASCII decimal with no sign and no leading zeroes (unless it is "0").
func parseDecimal(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("empty number")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("not an ASCII decimal number")
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, errors.New("leading zero")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errors.New("out of range")
	}
	return n, nil
}

// parseHashB64 parses a standard, padded, canonical base64 SHA-256 hash.
func parseHashB64(s string) (tlog.Hash, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("not standard base64: %v", err)
	}
	if len(b) != tlog.HashSize {
		return tlog.Hash{}, fmt.Errorf("%d bytes, want %d", len(b), tlog.HashSize)
	}
	if base64.StdEncoding.EncodeToString(b) != s {
		return tlog.Hash{}, errors.New("non-canonical base64")
	}
	var h tlog.Hash
	copy(h[:], b)
	return h, nil
}

// newWitnessVerifier accepts a cosigner vkey: type 0x04 (C2SP tlog-cosignature Ed25519
// cosignature/v1, which x/mod's note package does not know) or a plain type 0x01 note key.
func newWitnessVerifier(vkey string) (note.Verifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, errors.New("malformed vkey (want name+keyid+base64)")
	}
	key, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(key) == 0 {
		return nil, errors.New("malformed vkey key material")
	}
	if key[0] == 0x01 {
		return note.NewVerifier(vkey)
	}
	if key[0] != 0x04 || len(key) != 1+ed25519.PublicKeySize {
		return nil, fmt.Errorf("unsupported vkey type 0x%02x (want 0x04 Ed25519 cosignature or 0x01 Ed25519)", key[0])
	}
	name := parts[0]
	if name == "" || strings.ContainsAny(name, " \t\n+") || len(parts[1]) != 8 {
		return nil, errors.New("malformed vkey name or keyid")
	}
	id, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil {
		return nil, errors.New("malformed vkey keyid")
	}
	if uint32(id) != keyID(name, key) {
		return nil, errors.New("vkey keyid does not match its name and key")
	}
	return &cosigVerifier{name: name, hash: uint32(id), pub: ed25519.PublicKey(key[1:])}, nil
}

// keyID is the signed-note key id: SHA-256(name || "\n" || type || key)[:4], big-endian.
func keyID(name string, typedKey []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(typedKey)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

type cosigVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }

// Verify checks a timestamped_signature (u64 big-endian timestamp || 64-byte Ed25519 signature)
// over "cosignature/v1\ntime <timestamp>\n" || note body.
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	ts := binary.BigEndian.Uint64(sig[:8])
	if ts > 1<<63-1 {
		return false
	}
	m := []byte("cosignature/v1\ntime " + strconv.FormatUint(ts, 10) + "\n")
	m = append(m, msg...)
	return ed25519.Verify(v.pub, m, sig[8:])
}

// ---------------------------------------------------------------------------------------------
// Fetching (C2SP tlog-tiles paths).

var errNotFound = errors.New("404 not found")

// fetcher GETs resources under the log prefix, bounding concurrency.
type fetcher struct {
	base     string
	client   *http.Client
	sem      chan struct{}
	requests int64
	log      io.Writer

	mu       sync.Mutex
	warned   map[string]bool
	warnings []string
}

func newFetcher(base string, client *http.Client, jobs int, log io.Writer) *fetcher {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	if jobs < 1 {
		jobs = 1
	}
	return &fetcher{base: base, client: client, sem: make(chan struct{}, jobs), log: log, warned: map[string]bool{}}
}

// warn records a warning once per key (a deviation from a SHOULD, not a failure).
func (f *fetcher) warn(key, format string, args ...interface{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.warned[key] {
		return
	}
	f.warned[key] = true
	msg := fmt.Sprintf(format, args...)
	f.warnings = append(f.warnings, msg)
	if f.log != nil {
		fmt.Fprintf(f.log, "go-tlog: warning: %s\n", msg)
	}
}

// get fetches <base>/<path>, reading at most max bytes. A 404 is reported as errNotFound.
func (f *fetcher) get(path string, max int64, wantType string) ([]byte, error) {
	f.sem <- struct{}{}
	defer func() { <-f.sem }()
	atomic.AddInt64(&f.requests, 1)
	url := f.base + "/" + path
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("GET %s: %w", url, errNotFound)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: HTTP %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	if ct := resp.Header.Get("Content-Type"); wantType != "" && !strings.HasPrefix(ct, wantType) {
		f.warn("ct:"+wantType+":"+ct, "%s served with Content-Type %q, C2SP tlog-tiles says %q", path, ct, wantType)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading body: %v", url, err)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("GET %s: body larger than %d bytes", url, max)
	}
	return body, nil
}

// tilePath is the C2SP tlog-tiles path of tile N at level L (or of entry bundle N, for level
// -1), of width w: tile/<L>/<N>[.p/<W>], N in zero-padded 3-digit path elements, all but the last
// prefixed with "x" (1234067 → x001/x234/067).
func tilePath(level int, n int64, w int) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	l := "entries"
	if level >= 0 {
		l = strconv.Itoa(level)
	}
	p := "tile/" + l + "/" + s
	if w < tileWidth {
		p += ".p/" + strconv.Itoa(w)
	}
	return p
}

// tileReader implements tlog.TileReader over HTTP. Tiles are cached in memory for the run (the
// authenticated ones are what tlog.TileHashReader checks on every call, cheaply); level-0 tiles
// can be dropped once their entry bundle is checked.
type tileReader struct {
	f  *fetcher
	mu sync.Mutex
	m  map[string]*tileCall
}

type tileCall struct {
	done chan struct{}
	data []byte
	err  error
}

func newTileReader(f *fetcher) *tileReader { return &tileReader{f: f, m: map[string]*tileCall{}} }

func (r *tileReader) Height() int { return tileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	errs := make([]error, len(tiles))
	var wg sync.WaitGroup
	for i, t := range tiles {
		wg.Add(1)
		go func(i int, t tlog.Tile) {
			defer wg.Done()
			out[i], errs[i] = r.tile(t)
		}(i, t)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SaveTiles is a no-op: nothing is persisted between runs.
func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func (r *tileReader) forget(level int, n int64, w int) {
	r.mu.Lock()
	delete(r.m, tilePath(level, n, w))
	r.mu.Unlock()
}

func (r *tileReader) tile(t tlog.Tile) ([]byte, error) {
	if t.H != tileHeight || t.L < 0 || t.W < 1 || t.W > tileWidth {
		return nil, fmt.Errorf("unexpected tile request %+v", t)
	}
	path := tilePath(t.L, t.N, t.W)
	r.mu.Lock()
	c, ok := r.m[path]
	if !ok {
		c = &tileCall{done: make(chan struct{})}
		r.m[path] = c
		r.mu.Unlock()
		c.data, c.err = r.fetchTile(t)
		if c.err != nil {
			r.mu.Lock()
			delete(r.m, path) // do not cache failures
			r.mu.Unlock()
		}
		close(c.done)
	} else {
		r.mu.Unlock()
		<-c.done
	}
	return c.data, c.err
}

func (r *tileReader) fetchTile(t tlog.Tile) ([]byte, error) {
	path := tilePath(t.L, t.N, t.W)
	want := t.W * tlog.HashSize
	data, err := r.f.get(path, int64(tileWidth*tlog.HashSize), "application/octet-stream")
	if errors.Is(err, errNotFound) && t.W < tileWidth {
		// C2SP: a log MAY delete a partial tile once the full tile exists (the log grew since
		// the checkpoint); the partial tile's hashes are a prefix of the full tile's.
		full := tilePath(t.L, t.N, tileWidth)
		data, err = r.f.get(full, int64(tileWidth*tlog.HashSize), "application/octet-stream")
		if err != nil {
			return nil, fmt.Errorf("tile %s: 404, and its full tile: %v", path, err)
		}
		if len(data) != tileWidth*tlog.HashSize {
			return nil, fmt.Errorf("tile %s (fetched for partial %s): %d bytes, want %d", full, path, len(data), tileWidth*tlog.HashSize)
		}
		return data[:want], nil
	}
	if err != nil {
		return nil, fmt.Errorf("tile %s: %v", path, err)
	}
	if len(data) != want {
		return nil, fmt.Errorf("tile %s: %d bytes, want %d (%d hashes)", path, len(data), want, t.W)
	}
	return data, nil
}

// maxBundle is the largest entry bundle: 256 entries of a 2-byte length and up to 65,535 bytes.
const maxBundle = tileWidth * (2 + 65535)

// fetchBundle fetches entry bundle n of width w and splits it into its w entries.
func fetchBundle(f *fetcher, n int64, w int) ([][]byte, error) {
	path := tilePath(-1, n, w)
	data, err := f.get(path, maxBundle, "application/octet-stream")
	if errors.Is(err, errNotFound) && w < tileWidth {
		full := tilePath(-1, n, tileWidth)
		data, err = f.get(full, maxBundle, "application/octet-stream")
		if err != nil {
			return nil, fmt.Errorf("entry bundle %s: 404, and its full bundle: %v", path, err)
		}
		entries, err := parseBundle(data, tileWidth)
		if err != nil {
			return nil, fmt.Errorf("entry bundle %s (fetched for partial %s): %v", full, path, err)
		}
		return entries[:w], nil
	}
	if err != nil {
		return nil, fmt.Errorf("entry bundle %s: %v", path, err)
	}
	entries, err := parseBundle(data, w)
	if err != nil {
		return nil, fmt.Errorf("entry bundle %s: %v", path, err)
	}
	return entries, nil
}

// parseBundle splits a C2SP entry bundle (a sequence of big-endian uint16 length-prefixed
// entries) and insists on exactly want entries and no trailing bytes.
func parseBundle(data []byte, want int) ([][]byte, error) {
	var entries [][]byte
	off := 0
	for off < len(data) {
		if len(data)-off < 2 {
			return nil, fmt.Errorf("truncated length prefix at byte %d (entry %d)", off, len(entries))
		}
		n := int(binary.BigEndian.Uint16(data[off:]))
		off += 2
		if len(data)-off < n {
			return nil, fmt.Errorf("entry %d at byte %d: length %d but only %d bytes left", len(entries), off-2, n, len(data)-off)
		}
		entries = append(entries, data[off:off+n])
		off += n
	}
	if len(entries) != want {
		return nil, fmt.Errorf("%d entries, want %d", len(entries), want)
	}
	return entries, nil
}

// ---------------------------------------------------------------------------------------------
// Leaves (DESIGN §3: {"time_ms":N,"envelope":<DSSE envelope>}).

type dsseEnvelope struct {
	PayloadType *string `json:"payloadType"`
	Payload     *string `json:"payload"`
	Signatures  []struct {
		KeyID *string `json:"keyid"`
		Sig   *string `json:"sig"`
	} `json:"signatures"`
}

// checkLeaf checks the leaf shape and returns its log time.
func checkLeaf(leaf []byte) (int64, error) {
	const prefix = `{"time_ms":`
	const middle = `,"envelope":`
	if !bytes.HasPrefix(leaf, []byte(prefix)) {
		return 0, fmt.Errorf("does not start with %s (starts %q)", prefix, abbrev(leaf))
	}
	rest := leaf[len(prefix):]
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	ms, err := parseDecimal(string(rest[:i]))
	if err != nil {
		return 0, fmt.Errorf("time_ms %q: %v", abbrev(rest[:i]), err)
	}
	rest = rest[i:]
	if !bytes.HasPrefix(rest, []byte(middle)) {
		return 0, fmt.Errorf("time_ms is not followed by %s: %q", middle, abbrev(rest))
	}
	rest = rest[len(middle):]
	if len(rest) < 2 || rest[0] != '{' || rest[len(rest)-1] != '}' {
		return 0, errors.New(`envelope is not a JSON object closing the leaf with "}"`)
	}
	env := rest[:len(rest)-1]
	if !json.Valid(leaf) {
		return 0, errors.New("not valid JSON")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, env); err != nil || !bytes.Equal(compact.Bytes(), env) {
		return 0, errors.New("envelope is not compact JSON")
	}
	var e dsseEnvelope
	dec := json.NewDecoder(bytes.NewReader(env))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return 0, fmt.Errorf("envelope is not a DSSE envelope: %v", err)
	}
	if e.PayloadType == nil || !strings.HasPrefix(*e.PayloadType, "application/vnd.truce.") || !strings.HasSuffix(*e.PayloadType, "+json") {
		return 0, fmt.Errorf("envelope payloadType is not application/vnd.truce.<kind>+json")
	}
	if e.Payload == nil {
		return 0, errors.New("envelope has no payload")
	}
	payload, err := base64.StdEncoding.DecodeString(*e.Payload)
	if err != nil {
		return 0, fmt.Errorf("envelope payload is not standard base64: %v", err)
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(payload, &p); err != nil {
		return 0, fmt.Errorf("payload is not a JSON object: %v", err)
	}
	var id string
	if err := json.Unmarshal(p["id"], &id); err != nil || id == "" {
		return 0, errors.New(`payload has no string "id"`)
	}
	if len(e.Signatures) == 0 {
		return 0, errors.New("envelope has no signatures")
	}
	for k, s := range e.Signatures {
		if s.KeyID == nil || !strings.Contains(*s.KeyID, "+") {
			return 0, fmt.Errorf("signature %d: keyid is not <name>+<keyid hex>", k)
		}
		sig, err := base64.StdEncoding.DecodeString(derefOr(s.Sig))
		if err != nil || len(sig) != ed25519.SignatureSize {
			return 0, fmt.Errorf("signature %d: sig is not a base64 Ed25519 signature", k)
		}
	}
	return ms, nil
}

// leafEnvelope returns the envelope bytes of a leaf {"time_ms":N,"envelope":{...}}.
func leafEnvelope(leaf []byte) ([]byte, error) {
	i := bytes.Index(leaf, []byte(`,"envelope":`))
	if i < 0 || len(leaf) == 0 || leaf[len(leaf)-1] != '}' {
		return nil, errors.New("not a leaf of the form {\"time_ms\":N,\"envelope\":{...}}")
	}
	return leaf[i+len(`,"envelope":`) : len(leaf)-1], nil
}

func derefOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func abbrev(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}

// ---------------------------------------------------------------------------------------------
// Receipts (C2SP tlog-proof v1).

// receipt is one POST /v1/entries answer.
type receipt struct {
	Index    *int64  `json:"index"`
	LeafHash *string `json:"leaf_hash"`
	Proof    *string `json:"proof"`
	// Envelope, if present (go-tlog submit adds it), is the submitted DSSE envelope: the leaf
	// at Index must carry exactly this envelope.
	Envelope json.RawMessage `json:"envelope"`
}

// readReceipts reads a JSON array of receipts, or a sequence of receipt objects (JSON Lines).
func readReceipts(data []byte) ([]receipt, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, nil
	}
	if trimmed[0] == '[' {
		var rs []receipt
		if err := json.Unmarshal(trimmed, &rs); err != nil {
			return nil, err
		}
		return rs, nil
	}
	var rs []receipt
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	for {
		var r receipt
		err := dec.Decode(&r)
		if err == io.EOF {
			return rs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("receipt %d: %v", len(rs), err)
		}
		rs = append(rs, r)
	}
}

// tlogProof is a parsed C2SP tlog-proof.
type tlogProof struct {
	Extra      []byte
	Index      int64
	Proof      tlog.RecordProof
	Checkpoint []byte
}

const tlogProofHeader = "c2sp.org/tlog-proof@v1"

func parseTlogProof(text string) (*tlogProof, error) {
	rest := text
	line := func() (string, bool) {
		i := strings.IndexByte(rest, '\n')
		if i < 0 {
			return "", false
		}
		l := rest[:i]
		rest = rest[i+1:]
		return l, true
	}
	l, ok := line()
	if !ok || l != tlogProofHeader {
		return nil, fmt.Errorf("first line is not %q", tlogProofHeader)
	}
	p := &tlogProof{}
	l, ok = line()
	if ok && strings.HasPrefix(l, "extra ") {
		extra, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "extra "))
		if err != nil {
			return nil, fmt.Errorf("extra line: %v", err)
		}
		p.Extra = extra
		l, ok = line()
	}
	if !ok || !strings.HasPrefix(l, "index ") {
		return nil, errors.New(`missing "index N" line`)
	}
	idx, err := parseDecimal(strings.TrimPrefix(l, "index "))
	if err != nil {
		return nil, fmt.Errorf("index line %q: %v", l, err)
	}
	p.Index = idx
	for {
		l, ok = line()
		if !ok {
			return nil, errors.New("no empty line between the inclusion proof and the checkpoint")
		}
		if l == "" {
			break
		}
		h, err := parseHashB64(l)
		if err != nil {
			return nil, fmt.Errorf("inclusion proof line %d %q: %v", len(p.Proof)+1, l, err)
		}
		p.Proof = append(p.Proof, h)
	}
	if rest == "" {
		return nil, errors.New("no checkpoint after the inclusion proof")
	}
	p.Checkpoint = []byte(rest)
	return p, nil
}

// ---------------------------------------------------------------------------------------------
// The verifier.

type verifier struct {
	cfg  config
	f    *fetcher
	logV note.Verifier
	wits []note.Verifier
	sum  summary
}

func (v *verifier) logf(format string, args ...interface{}) {
	if v.cfg.Log != nil {
		fmt.Fprintf(v.cfg.Log, "go-tlog: "+format+"\n", args...)
	}
}

func verify(cfg config) (*summary, error) {
	if cfg.Jobs < 1 {
		cfg.Jobs = 8
	}
	logV, err := note.NewVerifier(cfg.VKey)
	if err != nil {
		return nil, fmt.Errorf("-vkey %q: %v", cfg.VKey, err)
	}
	v := &verifier{cfg: cfg, logV: logV, f: newFetcher(cfg.LogURL, cfg.Client, cfg.Jobs, cfg.Log)}
	for _, w := range cfg.Witnesses {
		wv, err := newWitnessVerifier(w)
		if err != nil {
			return nil, fmt.Errorf("-witness %q: %v", w, err)
		}
		v.wits = append(v.wits, wv)
	}
	v.sum.ConsistencyFrom = -1

	// Inputs that the current checkpoint must cover: read them first, so that we know how long
	// to wait for the log to integrate them.
	var receipts []receipt
	if cfg.ReceiptsFile != "" {
		data, err := os.ReadFile(cfg.ReceiptsFile)
		if err != nil {
			return nil, fmt.Errorf("receipts: %v", err)
		}
		if receipts, err = readReceipts(data); err != nil {
			return nil, fmt.Errorf("receipts %s: %v", cfg.ReceiptsFile, err)
		}
	}
	var old *checkpoint
	if cfg.OldCheckpoint != "" {
		raw, err := os.ReadFile(cfg.OldCheckpoint)
		if err != nil {
			return nil, fmt.Errorf("old checkpoint: %v", err)
		}
		if old, err = openCheckpoint(raw, logV, nil, nil); err != nil {
			return nil, fmt.Errorf("old checkpoint %s: %v", cfg.OldCheckpoint, err)
		}
	}
	minSize := int64(0)
	if old != nil {
		minSize = old.Tree.N
	}
	for _, r := range receipts {
		if r.Index != nil && *r.Index+1 > minSize {
			minSize = *r.Index + 1
		}
	}

	cur, err := v.currentCheckpoint(minSize)
	if err != nil {
		return nil, err
	}
	v.sum.Origin, v.sum.Size, v.sum.Root = cur.Origin, cur.Tree.N, cur.Tree.Hash
	for _, s := range cur.Note.Sigs {
		if s.Name != logV.Name() || s.Hash != logV.KeyHash() {
			v.sum.CosignedBy = append(v.sum.CosignedBy, s.Name)
		}
	}
	v.logf("checkpoint: origin %s, size %d, root %s (signed by %s+%08x)", cur.Origin, cur.Tree.N, cur.Tree.Hash, logV.Name(), logV.KeyHash())

	tr := newTileReader(v.f)
	thr := tlog.TileHashReader(cur.Tree, tr)

	if err := v.checkTree(cur, tr, thr); err != nil {
		return nil, err
	}
	if err := v.checkReceipts(receipts, cur, thr); err != nil {
		return nil, err
	}
	if old != nil {
		if old.Origin != cur.Origin {
			return nil, fmt.Errorf("old checkpoint %s: origin %q, but the log's is %q", cfg.OldCheckpoint, old.Origin, cur.Origin)
		}
		if err := checkConsistency(old.Tree, cur.Tree, thr); err != nil {
			return nil, fmt.Errorf("old checkpoint %s: %v", cfg.OldCheckpoint, err)
		}
		v.sum.ConsistencyFrom = old.Tree.N
		v.logf("consistency: the tree of size %d (root %s) is a prefix of the current tree", old.Tree.N, old.Tree.Hash)
	}
	v.sum.Requests = atomic.LoadInt64(&v.f.requests)
	v.f.mu.Lock()
	v.sum.Warnings = append([]string(nil), v.f.warnings...)
	v.f.mu.Unlock()
	return &v.sum, nil
}

// currentCheckpoint fetches and verifies <prefix>/checkpoint, polling until its size is at least
// minSize or cfg.Wait has passed.
func (v *verifier) currentCheckpoint(minSize int64) (*checkpoint, error) {
	deadline := time.Now().Add(v.cfg.Wait)
	for {
		raw, err := v.f.get("checkpoint", 1<<20, "text/plain")
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %v", err)
		}
		cp, err := openCheckpoint(raw, v.logV, v.wits, v.wits)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s/checkpoint: %v", v.cfg.LogURL, err)
		}
		if v.cfg.Origin != "" && cp.Origin != v.cfg.Origin {
			return nil, fmt.Errorf("checkpoint origin is %q, want %q", cp.Origin, v.cfg.Origin)
		}
		if cp.Origin != v.logV.Name() {
			v.f.warn("origin-name", "checkpoint origin %q differs from the log key name %q (C2SP: SHOULD match)", cp.Origin, v.logV.Name())
		}
		if len(cp.Extensions) > 0 {
			v.f.warn("ext", "checkpoint has %d extension lines (C2SP: NOT RECOMMENDED)", len(cp.Extensions))
		}
		if cp.Tree.N >= minSize {
			return cp, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("checkpoint size %d after waiting %v, but at least %d is needed to cover the receipts (entries the log acknowledged) and the old checkpoint (a tree it signed before)", cp.Tree.N, v.cfg.Wait, minSize)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkTree checks the tree of the checkpoint in two independent ways:
//
//  1. as the brief and x/mod intend: tlog.TreeHash(size, TileHashReader) equals the checkpoint's
//     root, and every leaf's tlog.RecordHash equals its level-0 hash read through the
//     TileHashReader;
//  2. by rebuilding the whole tree from the entry bundles alone, in order, with
//     tlog.StoredHashesForRecordHash (keeping only the O(log n) right frontier), and checking
//     that it has the checkpoint's root and that every hash tile of every level, full or
//     partial, is byte for byte the rebuilt tree's.
//
// Check 2 is needed because x/mod's TileHashReader (v0.7.0) does not authenticate every tile it
// returns hashes from: its "authenticate full tiles against their parents" loop starts at
// len(stx), the number of subtree hashes, not at the number of distinct tiles holding them, so a
// requested tile can be skipped (see TestXModTileHashReaderGap). With check 1 alone, a log
// serving a forged leaf together with a matching forged level-0 tile would pass.
func (v *verifier) checkTree(cur *checkpoint, tr *tileReader, thr tlog.HashReader) error {
	size := cur.Tree.N
	if size == 0 {
		if cur.Tree.Hash != emptyRoot {
			return fmt.Errorf("checkpoint of the empty tree has root %s, want SHA-256(\"\") = %s", cur.Tree.Hash, emptyRoot)
		}
		v.logf("tree: empty")
		return nil
	}

	// Check 1, first half. If the tiles on the path to the root are inconsistent, carry on with
	// check 2 alone, which names the wrong resource.
	var thrErr error
	if th, err := tlog.TreeHash(size, thr); err != nil {
		thrErr = fmt.Errorf("tlog.TreeHash over the hash tiles: %v", err)
	} else if th != cur.Tree.Hash {
		thrErr = fmt.Errorf("tlog.TreeHash over the hash tiles gives root %s, the checkpoint says %s", th, cur.Tree.Hash)
	} else {
		v.logf("tiles: tlog.TreeHash over the hash tiles matches the checkpoint root")
	}
	if thrErr != nil {
		v.logf("%v; rebuilding the tree from the entry bundles to find out which resource is wrong", thrErr)
	}

	// Entry bundles are fetched and checked concurrently, in a bounded window, and folded into
	// the rebuilt tree in order.
	nb := (size + tileWidth - 1) / tileWidth
	type bundleResult struct {
		hashes  []tlog.Hash // record hashes of the bundle's leaves
		times   []int64
		leafErr error // check 1 mismatch (ambiguous: the leaf or the tile may be wrong)
		err     error // unambiguous failure
	}
	var stop int32
	futures := make(chan chan bundleResult, 2*v.cfg.Jobs)
	go func() {
		defer close(futures)
		for b := int64(0); b < nb && atomic.LoadInt32(&stop) == 0; b++ {
			ch := make(chan bundleResult, 1)
			futures <- ch
			go func(b int64) {
				var r bundleResult
				r.hashes, r.times, r.leafErr, r.err = v.checkBundle(b, size, thr, thrErr == nil)
				ch <- r
			}(b)
		}
	}()
	drain := func() {
		atomic.StoreInt32(&stop, 1)
		for ch := range futures {
			<-ch
		}
	}

	fr := newFrontier()
	tc := &tileCheck{v: v, tr: tr, bufs: map[int][]byte{}}
	var firstLeafErr error
	var lastMs int64 = -1
	var done int64
	for ch := range futures {
		r := <-ch
		if r.err != nil {
			drain()
			return r.err
		}
		if r.leafErr != nil && firstLeafErr == nil {
			firstLeafErr = r.leafErr
		}
		b := done
		for i, rh := range r.hashes {
			n := b*tileWidth + int64(i)
			hs, err := tlog.StoredHashesForRecordHash(n, rh, fr)
			if err != nil {
				drain()
				return fmt.Errorf("rebuilding the tree at leaf %d: %v", n, err)
			}
			fr.add(n, hs)
			if err := tc.add(n, hs); err != nil {
				drain()
				return err
			}
			if r.times[i] < lastMs {
				v.f.warn("time", "log time goes backwards at leaf %d: time_ms %d after %d", n, r.times[i], lastMs)
			}
			lastMs = r.times[i]
			if n == 0 {
				v.sum.FirstMs = r.times[i]
			}
		}
		done++
		if nb >= 200 && done%(nb/10) == 0 {
			v.logf("leaves: %d%% (%d of %d entry bundles)", done*100/nb, done, nb)
		}
	}
	v.sum.LastMs = lastMs
	if err := tc.finish(size); err != nil {
		return err
	}
	root, err := tlog.TreeHash(size, fr)
	if err != nil {
		return fmt.Errorf("rebuilding the tree: %v", err)
	}
	if root != cur.Tree.Hash {
		var detail []string
		for _, e := range []error{firstLeafErr, tc.firstErr} {
			if e != nil {
				detail = append(detail, e.Error())
			}
		}
		msg := fmt.Sprintf("the %d leaves of the entry bundles hash to root %s, but the checkpoint says %s", size, root, cur.Tree.Hash)
		if len(detail) > 0 {
			msg += " (first differences: " + strings.Join(detail, "; ") + ")"
		}
		return errors.New(msg)
	}
	// The entry bundles are exactly the signed tree. Anything else that differs is a tile.
	if tc.firstErr != nil {
		return fmt.Errorf("%v; the entry bundles do hash to the checkpoint root, so the tile is wrong", tc.firstErr)
	}
	if firstLeafErr != nil {
		return fmt.Errorf("%v (the entry bundles and every tile match the checkpoint root: the log changed during the run?)", firstLeafErr)
	}
	if thrErr != nil {
		return fmt.Errorf("%v (but the entry bundles and every tile match the checkpoint root: the log changed during the run?)", thrErr)
	}
	v.sum.Leaves = size
	v.logf("leaves: all %d leaves (%d entry bundles) have the leaf shape, match their level-0 hashes read through tlog.TileHashReader, and rebuild the checkpoint root; all %d hash tiles match the rebuilt tree", size, nb, tc.tiles)
	return nil
}

// checkBundle fetches entry bundle b of a tree of the given size, checks each leaf's shape and,
// if useThr, that its tlog.RecordHash equals the level-0 hash read through the TileHashReader.
func (v *verifier) checkBundle(b, size int64, thr tlog.HashReader, useThr bool) (hashes []tlog.Hash, times []int64, leafErr, err error) {
	start := b * tileWidth
	w := int(size - start)
	if w > tileWidth {
		w = tileWidth
	}
	leaves, err := fetchBundle(v.f, b, w)
	if err != nil {
		return nil, nil, nil, err
	}
	hashes = make([]tlog.Hash, w)
	times = make([]int64, w)
	for i, leaf := range leaves {
		hashes[i] = tlog.RecordHash(leaf)
		ms, err := checkLeaf(leaf)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("leaf %d (entry bundle %s): %v", start+int64(i), tilePath(-1, b, w), err)
		}
		times[i] = ms
	}
	if useThr {
		idx := make([]int64, w)
		for i := range idx {
			idx[i] = tlog.StoredHashIndex(0, start+int64(i))
		}
		tileHashes, err := thr.ReadHashes(idx)
		if err != nil {
			leafErr = fmt.Errorf("level-0 hashes of leaves %d..%d through tlog.TileHashReader: %v", start, start+int64(w)-1, err)
		} else {
			for i := range hashes {
				if hashes[i] != tileHashes[i] {
					leafErr = fmt.Errorf("leaf %d: entry bundle %s holds an entry with leaf hash %x, but tile %s (read through tlog.TileHashReader) has %x",
						start+int64(i), tilePath(-1, b, w), hashes[i][:], tilePath(0, b, w), tileHashes[i][:])
					break
				}
			}
		}
	}
	return hashes, times, leafErr, nil
}

// frontier is a tlog.HashReader holding only the last stored hash of each level: all that
// tlog.StoredHashesForRecordHash reads when records are added in order, and all that
// tlog.TreeHash reads for the tree of all records added.
type frontier struct {
	last map[int]frontierHash
}

type frontierHash struct {
	n int64
	h tlog.Hash
}

func newFrontier() *frontier { return &frontier{last: map[int]frontierHash{}} }

func (f *frontier) add(record int64, hashes []tlog.Hash) {
	for level, h := range hashes {
		f.last[level] = frontierHash{record >> uint(level), h}
	}
}

func (f *frontier) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		level, n := tlog.SplitStoredHashIndex(x)
		e, ok := f.last[level]
		if !ok || e.n != n {
			return nil, fmt.Errorf("frontier: hash %d (level %d, node %d) not kept", x, level, n)
		}
		out[i] = e.h
	}
	return out, nil
}

// tileCheck collects the rebuilt tree's hashes at levels 0, 8, 16, … and compares every
// completed tile, and finally every partial tile, with the one the log serves.
type tileCheck struct {
	v        *verifier
	tr       *tileReader
	bufs     map[int][]byte // tile level → hashes of the tile being filled
	firstErr error
	tiles    int
}

func (c *tileCheck) add(record int64, hashes []tlog.Hash) error {
	for level := 0; level < len(hashes); level += tileHeight {
		L := level / tileHeight
		node := record >> uint(level)
		if int64(len(c.bufs[L])) != (node%tileWidth)*tlog.HashSize {
			return fmt.Errorf("bad math rebuilding tile level %d at node %d", L, node)
		}
		c.bufs[L] = append(c.bufs[L], hashes[level][:]...)
		if len(c.bufs[L]) == tileWidth*tlog.HashSize {
			if err := c.compare(L, node/tileWidth, tileWidth, c.bufs[L]); err != nil {
				return err
			}
			c.bufs[L] = c.bufs[L][:0]
		}
	}
	return nil
}

func (c *tileCheck) finish(size int64) error {
	for L := 0; size>>(uint(L)*tileHeight) > 0; L++ {
		n := size >> (uint(L) * tileHeight)
		w := int(n % tileWidth)
		if w == 0 {
			continue
		}
		if len(c.bufs[L]) != w*tlog.HashSize {
			return fmt.Errorf("bad math: partial tile at level %d has %d hashes, want %d", L, len(c.bufs[L])/tlog.HashSize, w)
		}
		if err := c.compare(L, n/tileWidth, w, c.bufs[L]); err != nil {
			return err
		}
	}
	return nil
}

// compare fetches a tile (through the reader's cache) and records the first difference from
// the rebuilt tree. Only fetch failures are returned as errors.
func (c *tileCheck) compare(L int, n int64, w int, want []byte) error {
	c.tiles++
	got, err := c.tr.tile(tlog.Tile{H: tileHeight, L: L, N: n, W: w})
	if L == 0 && w == tileWidth {
		c.tr.forget(0, n, w) // level-0 tiles are needed once; keep memory flat
	}
	if err != nil {
		return err
	}
	if c.firstErr == nil && !bytes.Equal(got, want) {
		for i := 0; i < len(want); i += tlog.HashSize {
			if !bytes.Equal(got[i:i+tlog.HashSize], want[i:i+tlog.HashSize]) {
				c.firstErr = fmt.Errorf("tile %s is wrong: hash %d is %x, the tree rebuilt from the entry bundles has %x",
					tilePath(L, n, w), i/tlog.HashSize, got[i:i+tlog.HashSize], want[i:i+tlog.HashSize])
				break
			}
		}
	}
	return nil
}

// checkReceipts checks each receipt's tlog-proof offline (signature, inclusion), then against the
// verified log: same leaf hash at that index, and the receipt's tree is a prefix of the current.
func (v *verifier) checkReceipts(receipts []receipt, cur *checkpoint, thr tlog.HashReader) error {
	bundles := map[int64][][]byte{}
	for k, r := range receipts {
		if r.Index == nil || r.LeafHash == nil {
			return fmt.Errorf("receipt %d: missing index or leaf_hash", k)
		}
		idx := *r.Index
		what := fmt.Sprintf("receipt %d (index %d)", k, idx)
		if idx < 0 || idx >= cur.Tree.N {
			return fmt.Errorf("%s: index is not in the current tree of size %d", what, cur.Tree.N)
		}
		lh, err := hex.DecodeString(*r.LeafHash)
		if err != nil || len(lh) != tlog.HashSize {
			return fmt.Errorf("%s: leaf_hash %q is not 64 hex digits", what, *r.LeafHash)
		}
		var leafHash tlog.Hash
		copy(leafHash[:], lh)

		// Against the current signed tree: an inclusion proof built from the tiles and checked
		// against the checkpoint root (sound whatever the tiles say).
		if p, err := tlog.ProveRecord(cur.Tree.N, idx, thr); err != nil || tlog.CheckRecord(p, cur.Tree.N, cur.Tree.Hash, idx, leafHash) != nil {
			got, _ := thr.ReadHashes([]int64{tlog.StoredHashIndex(0, idx)})
			has := "another leaf"
			if len(got) == 1 {
				has = fmt.Sprintf("%x", got[0][:])
			}
			return fmt.Errorf("%s: receipt says leaf hash %x, but the log has %s at that index", what, leafHash[:], has)
		}

		if len(r.Envelope) > 0 && string(r.Envelope) != "null" {
			b := idx / tileWidth
			if bundles[b] == nil {
				w := cur.Tree.N - b*tileWidth
				if w > tileWidth {
					w = tileWidth
				}
				if bundles[b], err = fetchBundle(v.f, b, int(w)); err != nil {
					return fmt.Errorf("%s: %v", what, err)
				}
			}
			leaf := bundles[b][idx%tileWidth]
			if tlog.RecordHash(leaf) != leafHash {
				return fmt.Errorf("%s: entry bundle %s now holds a different leaf at that index", what, tilePath(-1, b, len(bundles[b])))
			}
			env, err := leafEnvelope(leaf)
			if err == nil {
				err = sameEnvelope(env, r.Envelope)
			}
			if err != nil {
				return fmt.Errorf("%s: the logged leaf does not carry the submitted envelope: %v", what, err)
			}
			v.sum.EnvelopesMatched++
		}

		if r.Proof == nil {
			if !v.cfg.AllowNoProof {
				return fmt.Errorf("%s: proof is null (no tlog-proof receipt; -allow-missing-proofs accepts that)", what)
			}
			v.sum.ReceiptsNoProof++
			v.sum.Receipts++
			continue
		}
		p, err := parseTlogProof(*r.Proof)
		if err != nil {
			return fmt.Errorf("%s: tlog-proof: %v", what, err)
		}
		if p.Index != idx {
			return fmt.Errorf("%s: tlog-proof is for index %d", what, p.Index)
		}
		cp, err := openCheckpoint(p.Checkpoint, v.logV, nil, nil)
		if err != nil {
			return fmt.Errorf("%s: tlog-proof checkpoint: %v", what, err)
		}
		if cp.Origin != cur.Origin {
			return fmt.Errorf("%s: tlog-proof checkpoint origin %q, but the log's is %q", what, cp.Origin, cur.Origin)
		}
		if idx >= cp.Tree.N {
			return fmt.Errorf("%s: tlog-proof checkpoint has size %d, which does not contain the index", what, cp.Tree.N)
		}
		if err := tlog.CheckRecord(p.Proof, cp.Tree.N, cp.Tree.Hash, idx, leafHash); err != nil {
			return fmt.Errorf("%s: inclusion proof (%d hashes) of leaf %x in the tree of size %d, root %s: %v",
				what, len(p.Proof), leafHash[:], cp.Tree.N, cp.Tree.Hash, err)
		}
		if cp.Tree.N > cur.Tree.N {
			return fmt.Errorf("%s: tlog-proof checkpoint has size %d, larger than the log's current %d", what, cp.Tree.N, cur.Tree.N)
		}
		if err := checkConsistency(cp.Tree, cur.Tree, thr); err != nil {
			return fmt.Errorf("%s: tlog-proof checkpoint: %v", what, err)
		}
		v.sum.Receipts++
	}
	if len(receipts) > 0 {
		v.logf("receipts: %d checked (inclusion proofs, signatures, leaf hashes and consistency with the current tree)", len(receipts))
	}
	return nil
}

// checkConsistency proves with tlog.ProveTree, from the authenticated tiles of cur, that old is a
// prefix of cur, and checks the proof with tlog.CheckTree.
func checkConsistency(old, cur tlog.Tree, thr tlog.HashReader) error {
	switch {
	case old.N > cur.N:
		return fmt.Errorf("size %d is larger than the log's current size %d (the log shrank or forked)", old.N, cur.N)
	case old.N == 0:
		if old.Hash != emptyRoot {
			return fmt.Errorf("empty tree with root %s, want SHA-256(\"\") = %s", old.Hash, emptyRoot)
		}
		return nil
	case old.N == cur.N:
		if old.Hash != cur.Hash {
			return fmt.Errorf("same size %d as the current checkpoint but root %s, not %s: the log signed two different trees (fork)", old.N, old.Hash, cur.Hash)
		}
		return nil
	}
	proof, err := tlog.ProveTree(cur.N, old.N, thr)
	if err != nil {
		return fmt.Errorf("building a consistency proof from the tiles: %v", err)
	}
	if err := tlog.CheckTree(proof, cur.N, cur.Hash, old.N, old.Hash); err != nil {
		return fmt.Errorf("the tree of size %d, root %s, is not a prefix of the current tree of size %d, root %s (fork): %v",
			old.N, old.Hash, cur.N, cur.Hash, err)
	}
	return nil
}

// ---------------------------------------------------------------------------------------------
// go-tlog checkpoint: fetch, verify and save the current checkpoint.

func checkpointMain(args []string) int {
	fs := flag.NewFlagSet("go-tlog checkpoint", flag.ContinueOnError)
	url := fs.String("url", "", "base URL of the truce server")
	logURL := fs.String("log-url", "", "C2SP tlog-tiles prefix, if not <url>/log")
	vkey := fs.String("vkey", "", "the log's verifier key")
	out := fs.String("out", "", "write the verified checkpoint here")
	minSize := fs.Int64("min-size", 0, "wait until the checkpoint's size is at least this")
	covers := fs.String("receipts", "", "wait until the checkpoint covers every receipt in this file")
	wait := fs.Duration("wait", 15*time.Second, "how long to wait for -min-size")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || (*url == "" && *logURL == "") || *vkey == "" {
		fs.Usage()
		return 2
	}
	logV, err := note.NewVerifier(*vkey)
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-tlog checkpoint: -vkey: %v\n", err)
		return 2
	}
	if *covers != "" {
		data, err := os.ReadFile(*covers)
		if err == nil {
			var rs []receipt
			if rs, err = readReceipts(data); err == nil {
				for _, r := range rs {
					if r.Index != nil && *r.Index+1 > *minSize {
						*minSize = *r.Index + 1
					}
				}
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "go-tlog checkpoint: -receipts: %v\n", err)
			return 2
		}
	}
	v := &verifier{cfg: config{LogURL: logPrefix(*url, *logURL), Wait: *wait, Log: os.Stderr}, logV: logV}
	v.f = newFetcher(v.cfg.LogURL, &http.Client{Timeout: 30 * time.Second}, 1, os.Stderr)
	cp, err := v.currentCheckpoint(*minSize)
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-tlog checkpoint: FAIL: %v\n", err)
		return 1
	}
	if *out != "" {
		if err := os.WriteFile(*out, cp.Raw, 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "go-tlog checkpoint: %v\n", err)
			return 1
		}
	}
	fmt.Printf("checkpoint: origin %s, size %d, root %s\n", cp.Origin, cp.Tree.N, cp.Tree.Hash)
	return 0
}
