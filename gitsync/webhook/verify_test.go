package webhook

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

var (
	testSecret = []byte("s3cret")
	testBody   = []byte(`{"ref":"refs/heads/main"}`)
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestVerify(t *testing.T) {
	good := Sign(testSecret, testBody)
	goodHex := strings.TrimPrefix(good, "sha256=")
	other := Sign([]byte("other"), testBody)
	tests := []struct {
		name   string
		verify func() error
		ok     bool
	}{
		{"github good", func() error { return VerifyGitHub(testSecret, testBody, hdr(HeaderGitHubSignature, good)) }, true},
		{"github missing", func() error { return VerifyGitHub(testSecret, testBody, hdr()) }, false},
		{"github other secret", func() error { return VerifyGitHub(testSecret, testBody, hdr(HeaderGitHubSignature, other)) }, false},
		{"github body changed", func() error {
			return VerifyGitHub(testSecret, append([]byte(" "), testBody...), hdr(HeaderGitHubSignature, good))
		}, false},
		{"github no prefix", func() error { return VerifyGitHub(testSecret, testBody, hdr(HeaderGitHubSignature, goodHex)) }, false},
		{"github sha1 header only", func() error {
			return VerifyGitHub(testSecret, testBody, hdr("X-Hub-Signature", "sha1=0123456789abcdef0123456789abcdef01234567"))
		}, false},
		{"github truncated", func() error { return VerifyGitHub(testSecret, testBody, hdr(HeaderGitHubSignature, good[:20])) }, false},
		{"github not hex", func() error {
			return VerifyGitHub(testSecret, testBody, hdr(HeaderGitHubSignature, "sha256="+strings.Repeat("zz", 32)))
		}, false},
		{"github upper-case hex", func() error {
			return VerifyGitHub(testSecret, testBody, hdr(HeaderGitHubSignature, "sha256="+strings.ToUpper(goodHex)))
		}, true},
		{"gitea good", func() error { return VerifyGitea(testSecret, testBody, hdr(HeaderGiteaSignature, goodHex)) }, true},
		{"gitea prefixed", func() error { return VerifyGitea(testSecret, testBody, hdr(HeaderGiteaSignature, good)) }, false},
		{"gitea missing", func() error { return VerifyGitea(testSecret, testBody, hdr()) }, false},
		{"generic good", func() error { return VerifyGeneric(testSecret, testBody, hdr(HeaderGenericSignature, good)) }, true},
		{"generic github header", func() error { return VerifyGeneric(testSecret, testBody, hdr(HeaderGitHubSignature, good)) }, false},
		{"generic empty body", func() error {
			return VerifyGeneric(testSecret, nil, hdr(HeaderGenericSignature, Sign(testSecret, nil)))
		}, true},
		{"gitlab good", func() error { return VerifyGitLab(testSecret, hdr(HeaderGitLabToken, "s3cret")) }, true},
		{"gitlab wrong", func() error { return VerifyGitLab(testSecret, hdr(HeaderGitLabToken, "s3cre")) }, false},
		{"gitlab longer", func() error { return VerifyGitLab(testSecret, hdr(HeaderGitLabToken, "s3cret!")) }, false},
		{"gitlab missing", func() error { return VerifyGitLab(testSecret, hdr()) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.verify()
			if tt.ok && err != nil {
				t.Errorf("err = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrSignature) {
				t.Errorf("err = %v, want ErrSignature", err)
			}
			if err != nil && strings.Contains(err.Error(), string(testSecret)) {
				t.Errorf("error %q reveals the secret", err)
			}
		})
	}
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		body, want string
		ok         bool
	}{
		{`{"ref":"refs/heads/main","commits":[]}`, "refs/heads/main", true},
		{`{"zen":"x"}`, "", true},
		{`not json`, "", false},
		{`{"ref":` + `"` + strings.Repeat("a", maxRefLen+1) + `"}`, "", false},
	}
	for _, tt := range tests {
		got, err := ParseRef([]byte(tt.body))
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseRef(%.30q) = %q, %v; want %q, ok=%v", tt.body, got, err, tt.want, tt.ok)
		}
	}
}
