package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Provider names, as used in URLs (/hooks/<name>) and LoadSecrets.
const (
	GitHub  = "github"
	GitLab  = "gitlab"
	Gitea   = "gitea"
	Generic = "generic"
)

// Signature headers.
const (
	HeaderGitHubSignature  = "X-Hub-Signature-256"
	HeaderGitLabToken      = "X-Gitlab-Token"
	HeaderGiteaSignature   = "X-Gitea-Signature"
	HeaderGenericSignature = "X-Tug-Signature-256"
	HeaderGenericDelivery  = "X-Tug-Delivery"
)

// ErrSignature is returned (wrapped) by the Verify functions when a
// signature or token is missing or wrong.
var ErrSignature = errors.New("signature mismatch")

// Sign returns "sha256=<hex HMAC-SHA256 of body>", the value of
// X-Hub-Signature-256 and X-Tug-Signature-256.
func Sign(secret, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, body))
}

func mac(secret, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return m.Sum(nil)
}

// verifyHex checks a hex HMAC-SHA256 of body in constant time.
func verifyHex(secret, body []byte, header, value string) error {
	if value == "" {
		return fmt.Errorf("%s header is missing: %w", header, ErrSignature)
	}
	got, err := hex.DecodeString(value)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%s is not a hex SHA-256 HMAC: %w", header, ErrSignature)
	}
	if !hmac.Equal(got, mac(secret, body)) {
		return fmt.Errorf("%s does not match the body: %w", header, ErrSignature)
	}
	return nil
}

// verifyPrefixed checks "sha256=<hex>".
func verifyPrefixed(secret, body []byte, header, value string) error {
	if value == "" {
		return fmt.Errorf("%s header is missing: %w", header, ErrSignature)
	}
	hexSig, ok := strings.CutPrefix(value, "sha256=")
	if !ok {
		return fmt.Errorf("%s must start with sha256=: %w", header, ErrSignature)
	}
	return verifyHex(secret, body, header, hexSig)
}

// VerifyGitHub checks X-Hub-Signature-256 (the SHA-1 X-Hub-Signature is
// never accepted).
func VerifyGitHub(secret, body []byte, h http.Header) error {
	return verifyPrefixed(secret, body, HeaderGitHubSignature, h.Get(HeaderGitHubSignature))
}

// VerifyGitea checks X-Gitea-Signature, a bare hex HMAC-SHA256 of the body.
func VerifyGitea(secret, body []byte, h http.Header) error {
	return verifyHex(secret, body, HeaderGiteaSignature, h.Get(HeaderGiteaSignature))
}

// VerifyGeneric checks X-Tug-Signature-256, "sha256=<hex HMAC-SHA256>".
func VerifyGeneric(secret, body []byte, h http.Header) error {
	return verifyPrefixed(secret, body, HeaderGenericSignature, h.Get(HeaderGenericSignature))
}

// VerifyGitLab compares X-Gitlab-Token with the secret in constant time.
// GitLab does not sign the body; the token is checked before it is read.
func VerifyGitLab(secret []byte, h http.Header) error {
	tok := h.Get(HeaderGitLabToken)
	if tok == "" {
		return fmt.Errorf("%s header is missing: %w", HeaderGitLabToken, ErrSignature)
	}
	if subtle.ConstantTimeCompare([]byte(tok), secret) != 1 {
		return fmt.Errorf("%s does not match: %w", HeaderGitLabToken, ErrSignature)
	}
	return nil
}

// Kinds of event, from the provider's event header.
const (
	eventPush  = "push"
	eventPing  = "ping"
	eventOther = "other"
)

// provider is what differs between hosts.
type provider struct {
	verifyBody  func(secret, body []byte, h http.Header) error // nil: verified by token
	verifyToken func(secret []byte, h http.Header) error
	delivery    func(h http.Header) string
	event       func(h http.Header) string
	emptyOK     bool // an empty body is a push (generic)
}

var providers = map[string]provider{
	GitHub: {
		verifyBody: VerifyGitHub,
		delivery:   func(h http.Header) string { return h.Get("X-GitHub-Delivery") },
		event: func(h http.Header) string {
			return eventOf(h.Get("X-GitHub-Event"), "push", "ping")
		},
	},
	GitLab: {
		verifyToken: VerifyGitLab,
		delivery: func(h http.Header) string {
			if k := h.Get("Idempotency-Key"); k != "" {
				return k
			}
			return h.Get("X-Gitlab-Event-UUID")
		},
		event: func(h http.Header) string {
			if h.Get("X-Gitlab-Event") == "Tag Push Hook" {
				return eventPush // a tag push: the ref decides whether it triggers
			}
			return eventOf(h.Get("X-Gitlab-Event"), "Push Hook", "")
		},
	},
	Gitea: {
		verifyBody: VerifyGitea,
		delivery:   func(h http.Header) string { return h.Get("X-Gitea-Delivery") },
		event:      func(h http.Header) string { return eventOf(h.Get("X-Gitea-Event"), "push", "") },
	},
	Generic: {
		verifyBody: VerifyGeneric,
		delivery:   func(h http.Header) string { return h.Get(HeaderGenericDelivery) },
		event:      func(http.Header) string { return eventPush },
		emptyOK:    true,
	},
}

func eventOf(v, push, ping string) string {
	switch {
	case v == push:
		return eventPush
	case ping != "" && v == ping:
		return eventPing
	}
	return eventOther
}

// maxRefLen bounds the ref a payload may name.
const maxRefLen = 1024

// ParseRef returns the "ref" of a push payload ("refs/heads/main"); it is
// "" when the payload has none. Only call it on a verified body.
func ParseRef(body []byte) (string, error) {
	var p struct {
		Ref string `json:"ref"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return "", fmt.Errorf("payload is not JSON: %w", err)
	}
	if len(p.Ref) > maxRefLen {
		return "", fmt.Errorf("payload ref is %d bytes long", len(p.Ref))
	}
	return p.Ref, nil
}
