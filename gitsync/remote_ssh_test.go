package gitsync

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshGitServer is a minimal SSH server on 127.0.0.1 that runs
// git-upload-pack for one authorised key.
type sshGitServer struct {
	addr    string
	hostKey ssh.PublicKey
	keyFile string // the client's private key
}

func newSSHGitServer(t *testing.T) *sshGitServer {
	t.Helper()
	if _, err := exec.LookPath("git-upload-pack"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("missing prerequisite git-upload-pack")
		}
		t.Skip("git-upload-pack not installed")
	}
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	clientPub, clientPriv, _ := ed25519.GenerateKey(rand.Reader)
	authorized, _ := ssh.NewPublicKey(clientPub)
	block, err := ssh.MarshalPrivateKey(clientPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
		if string(key.Marshal()) == string(authorized.Marshal()) {
			return nil, nil
		}
		return nil, errUnauthorizedKey
	}}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); serveSSH(c, cfg) }()
		}
	}()
	return &sshGitServer{addr: ln.Addr().String(), hostKey: hostSigner.PublicKey(), keyFile: keyFile}
}

const errUnauthorizedKey = testError("unauthorized key")

func serveSSH(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	conn, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			defer ch.Close()
			for req := range chReqs {
				if req.Type != "exec" || len(req.Payload) < 4 {
					req.Reply(false, nil)
					continue
				}
				n := binary.BigEndian.Uint32(req.Payload)
				command := string(req.Payload[4:][:min(int(n), len(req.Payload)-4)])
				name, arg, _ := strings.Cut(command, " ")
				if name != "git-upload-pack" {
					req.Reply(false, nil)
					return
				}
				req.Reply(true, nil)
				cmd := exec.Command("git-upload-pack", strings.Trim(arg, "'"))
				cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
				status := uint32(0)
				if err := cmd.Run(); err != nil {
					status = 1
				}
				ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, status))
				return
			}
		}()
	}
}

func (s *sshGitServer) knownHosts(t *testing.T, key ssh.PublicKey) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, key) + "\n"
	if err := os.WriteFile(p, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSyncerSSH(t *testing.T) {
	srv := newSSHGitServer(t)
	repo := newTestRepo(t, filepath.Join(t.TempDir(), "cluster"))
	sha := repo.commit("over ssh", map[string]string{"a.yaml": webConfig})
	url := "ssh://git@" + srv.addr + repo.dir

	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	otherSigner, _ := ssh.NewSignerFromKey(otherPriv)
	emptyKnownHosts := filepath.Join(t.TempDir(), "empty_known_hosts")
	os.WriteFile(emptyKnownHosts, nil, 0o644)

	tests := []struct {
		name       string
		knownHosts string
		wantErr    string // "" = applies
	}{
		{"known host", srv.knownHosts(t, srv.hostKey), ""},
		{"changed host key", srv.knownHosts(t, otherSigner.PublicKey()), "key mismatch"},
		{"unknown host", emptyKnownHosts, "key is unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := newFakeSink()
			s, err := New(Config{Repo: url, CacheDir: t.TempDir(), PollInterval: 50 * time.Millisecond,
				Credentials: Credentials{SSHKeyFile: srv.keyFile, KnownHostsFile: tt.knownHosts}}, sink)
			if err != nil {
				t.Fatal(err)
			}
			start(t, s)
			if tt.wantErr == "" {
				if ev := sink.next(t); ev.op != "apply" || ev.rec.SHA != sha.String() {
					t.Fatalf("got %s of %s (%v)", ev.op, ev.rec.SHA, s.Status().Err)
				}
				return
			}
			waitFor(t, "fetch error", func() bool { return s.Status().Err != nil })
			if err := s.Status().Err; !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("fetch error = %v, want %q", err, tt.wantErr)
			}
			sink.quiet(t, 150*time.Millisecond) // fails closed: nothing fetched, nothing applied
		})
	}
}
