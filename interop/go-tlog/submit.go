package main

// go-tlog submit: accredits fresh monitor keys by posting operator-signed `key` entries (DESIGN
// §3), written from the contract alone: DSSE envelopes signed over PAE with the operator's
// signed-note private key, and fresh signed-note vkeys from note.GenerateKey.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
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
	"time"

	"golang.org/x/mod/sumdb/note"
)

// pae is the DSSE pre-authentication encoding:
// "DSSEv1" SP len(type) SP type SP len(body) SP body, lengths in ASCII decimal.
func pae(payloadType string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(body)))
	b.WriteByte(' ')
	b.Write(body)
	return b.Bytes()
}

type envelopeSig struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

type envelope struct {
	PayloadType string        `json:"payloadType"`
	Payload     string        `json:"payload"`
	Signatures  []envelopeSig `json:"signatures"`
}

// signEnvelope builds a DSSE envelope of payload signed by each signer; the keyid is the
// signer's "<name>+<keyid hex>".
func signEnvelope(payloadType string, payload []byte, signers ...note.Signer) (*envelope, error) {
	env := &envelope{PayloadType: payloadType, Payload: base64.StdEncoding.EncodeToString(payload)}
	msg := pae(payloadType, payload)
	for _, s := range signers {
		sig, err := s.Sign(msg)
		if err != nil {
			return nil, err
		}
		env.Signatures = append(env.Signatures, envelopeSig{
			KeyID: fmt.Sprintf("%s+%08x", s.Name(), s.KeyHash()),
			Sig:   base64.StdEncoding.EncodeToString(sig),
		})
	}
	return env, nil
}

// loadSigner reads a private key file "PRIVATE+KEY+<name>+<keyid hex>+base64(0x01||seed)".
func loadSigner(path string) (note.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := note.NewSigner(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: not a signed-note Ed25519 private key: %v", path, err)
	}
	return s, nil
}

func uuid4() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// keyPayload is a `key` entry accrediting vkey.
type keyPayload struct {
	ID          string   `json:"id"`
	VKey        string   `json:"vkey"`
	Roles       []string `json:"roles"`
	Affiliation string   `json:"affiliation"`
}

// entryAnswer is the 200 answer of POST /v1/entries.
type entryAnswer struct {
	Index    *int64  `json:"index"`
	LeafHash *string `json:"leaf_hash"`
	Proof    *string `json:"proof"`
}

type submitter struct {
	url    string
	client *http.Client
}

// post submits env and returns the answer, and the answer's raw JSON object.
func (s *submitter) post(env *envelope) (*entryAnswer, map[string]json.RawMessage, error) {
	body, err := json.Marshal(env)
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequest("POST", s.url+"/v1/entries", bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("POST /v1/entries: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("POST /v1/entries: reading the answer: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("POST /v1/entries: HTTP %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	var a entryAnswer
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, nil, fmt.Errorf("POST /v1/entries: answer is not JSON: %v: %s", err, abbrev(data))
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, fmt.Errorf("POST /v1/entries: answer is not a JSON object: %s", abbrev(data))
	}
	if a.Index == nil || *a.Index < 0 {
		return nil, nil, fmt.Errorf("POST /v1/entries: answer has no index: %s", abbrev(data))
	}
	if a.LeafHash == nil {
		return nil, nil, fmt.Errorf("POST /v1/entries: answer has no leaf_hash: %s", abbrev(data))
	}
	if lh, err := hex.DecodeString(*a.LeafHash); err != nil || len(lh) != 32 {
		return nil, nil, fmt.Errorf("POST /v1/entries: leaf_hash %q is not 64 hex digits", *a.LeafHash)
	}
	return &a, raw, nil
}

func submitMain(args []string) int {
	fs := flag.NewFlagSet("go-tlog submit", flag.ContinueOnError)
	url := fs.String("url", "", "base URL of the truce server, e.g. http://127.0.0.1:8080")
	keyFile := fs.String("key", "", "the operator's private key file (PRIVATE+KEY+...)")
	n := fs.Int("n", 5, "how many key entries to submit")
	receiptsOut := fs.String("receipts", "", "append each answer, with the submitted envelope, as a JSON line to this file")
	prefix := fs.String("name-prefix", "interop.example/monitor", "name prefix of the generated keys")
	affiliation := fs.String("affiliation", "OSCE", "affiliation of the accredited keys")
	resubmit := fs.Bool("resubmit", true, "submit the first envelope a second time and check the answer is the same index and leaf hash (idempotency)")
	concurrency := fs.Int("c", 8, "concurrent submissions")
	timeout := fs.Duration("timeout", 30*time.Second, "timeout of each HTTP request")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || *url == "" || *keyFile == "" || *n < 1 {
		fs.Usage()
		return 2
	}
	if err := submit(*url, *keyFile, *n, *concurrency, *receiptsOut, *prefix, *affiliation, *resubmit, newClient(*timeout, *concurrency), os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "go-tlog submit: FAIL: %v\n", err)
		return 1
	}
	return 0
}

func abbrevList(s []string) string {
	if len(s) > 12 {
		return strings.Join(s[:5], " ") + " … " + strings.Join(s[len(s)-5:], " ")
	}
	return strings.Join(s, " ")
}

func submit(url, keyFile string, n, concurrency int, receiptsOut, prefix, affiliation string, resubmit bool, client *http.Client, out io.Writer) error {
	op, err := loadSigner(keyFile)
	if err != nil {
		return err
	}
	var rf *os.File
	if receiptsOut != "" {
		rf, err = os.OpenFile(receiptsOut, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer rf.Close()
	}
	s := &submitter{url: strings.TrimRight(url, "/"), client: client}
	envs := make([]*envelope, n)
	names := make([]string, n)
	for i := range envs {
		var rnd [4]byte
		if _, err := rand.Read(rnd[:]); err != nil {
			return err
		}
		names[i] = fmt.Sprintf("%s-%x", prefix, rnd)
		_, vkey, err := note.GenerateKey(rand.Reader, names[i])
		if err != nil {
			return err
		}
		payload, err := json.Marshal(keyPayload{ID: uuid4(), VKey: vkey, Roles: []string{"monitor"}, Affiliation: affiliation})
		if err != nil {
			return err
		}
		if envs[i], err = signEnvelope("application/vnd.truce.key+json", payload, op); err != nil {
			return err
		}
	}
	// Post concurrently: each answer may wait for the entry's integration into a checkpoint.
	answers := make([]*entryAnswer, n)
	raws := make([]map[string]json.RawMessage, n)
	errs := make([]error, n)
	if concurrency < 1 {
		concurrency = 1
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				answers[i], raws[i], errs[i] = s.post(envs[i])
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	var indexes []string
	seen := map[int64]int{}
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			return fmt.Errorf("entry %d (key %s): %v", i, names[i], errs[i])
		}
		if j, dup := seen[*answers[i].Index]; dup {
			return fmt.Errorf("entries %d and %d (different envelopes) were both given index %d", j, i, *answers[i].Index)
		}
		seen[*answers[i].Index] = i
		indexes = append(indexes, strconv.FormatInt(*answers[i].Index, 10))
		if rf != nil {
			raws[i]["envelope"], _ = json.Marshal(envs[i])
			line, err := json.Marshal(raws[i])
			if err != nil {
				return err
			}
			if _, err := rf.Write(append(line, '\n')); err != nil {
				return err
			}
		}
	}
	first, firstAns := envs[0], answers[0]
	fmt.Fprintf(out, "submitted %d key entries signed by %s+%08x: indexes %s\n", n, op.Name(), op.KeyHash(), abbrevList(indexes))
	if resubmit {
		a, _, err := s.post(first)
		if err != nil {
			return fmt.Errorf("resubmitting the first envelope: %v", err)
		}
		if *a.Index != *firstAns.Index || *a.LeafHash != *firstAns.LeafHash {
			return fmt.Errorf("resubmitting the first envelope gave index %d, leaf hash %s; the first submission gave index %d, leaf hash %s (DESIGN §3: idempotent)",
				*a.Index, *a.LeafHash, *firstAns.Index, *firstAns.LeafHash)
		}
		fmt.Fprintf(out, "resubmitted the first envelope: same index %d and leaf hash (idempotent)\n", *a.Index)
	}
	return nil
}

// sameEnvelope reports whether the logged envelope (from a leaf) is the submitted one: same
// payload type, same payload bytes, same signatures (keyid and signature bytes), in order.
func sameEnvelope(logged, submitted []byte) error {
	var a, b envelope
	if err := json.Unmarshal(logged, &a); err != nil {
		return fmt.Errorf("logged envelope: %v", err)
	}
	if err := json.Unmarshal(submitted, &b); err != nil {
		return fmt.Errorf("submitted envelope: %v", err)
	}
	if a.PayloadType != b.PayloadType {
		return fmt.Errorf("payloadType %q, submitted %q", a.PayloadType, b.PayloadType)
	}
	pa, err1 := base64.StdEncoding.DecodeString(a.Payload)
	pb, err2 := base64.StdEncoding.DecodeString(b.Payload)
	if err1 != nil || err2 != nil || !bytes.Equal(pa, pb) {
		return errors.New("payload differs from the submitted one")
	}
	if len(a.Signatures) != len(b.Signatures) {
		return fmt.Errorf("%d signatures, submitted %d", len(a.Signatures), len(b.Signatures))
	}
	for i := range a.Signatures {
		sa, err1 := base64.StdEncoding.DecodeString(a.Signatures[i].Sig)
		sb, err2 := base64.StdEncoding.DecodeString(b.Signatures[i].Sig)
		if a.Signatures[i].KeyID != b.Signatures[i].KeyID || err1 != nil || err2 != nil || !bytes.Equal(sa, sb) {
			return fmt.Errorf("signature %d differs from the submitted one", i)
		}
	}
	return nil
}
