package gitsync

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// Credentials say how to authenticate to a remote repository. Secrets live
// in files, never in URLs or flags, and never appear in logs, errors or
// status (go-git's auth methods print masked).
type Credentials struct {
	// Username for HTTP basic auth (default "git", which hosts accept with
	// a token) or for SSH (default: the URL's user, else "git").
	Username string
	// PasswordFile holds an HTTP(S) password or access token.
	PasswordFile string
	// SSHKeyFile is a private key (unencrypted, PEM or OpenSSH format).
	SSHKeyFile string
	// KnownHostsFile lists the SSH server's host keys (ssh-keyscan output,
	// checked before use). Required for SSH: an unknown or changed host key
	// fails the fetch; host keys are never ignored.
	KnownHostsFile string
}

func (c Credentials) empty() bool { return c == Credentials{} }

// isSSH reports whether remote is ssh://... or scp-like user@host:path.
func isSSH(remote string) bool {
	return strings.HasPrefix(remote, "ssh://") || isSCPLike(remote)
}

// isSCPLike reports whether remote is user@host:path.
func isSCPLike(remote string) bool {
	return !strings.Contains(remote, "://") && strings.Contains(remote, "@") && strings.Contains(remote, ":")
}

// authFor builds the auth method for remote from c; nil for local
// repositories.
func authFor(remote string, c Credentials) (transport.AuthMethod, error) {
	switch {
	case isSSH(remote):
		if c.SSHKeyFile == "" || c.KnownHostsFile == "" {
			return nil, errors.New("an ssh repository needs a private key file and a known_hosts file (tugd --git-ssh-key-file, --git-known-hosts-file)")
		}
		if c.PasswordFile != "" {
			return nil, errors.New("a password file is for HTTP(S) repositories; ssh uses a key file")
		}
		user := c.Username
		if user == "" {
			user = sshUser(remote)
		}
		key, err := gitssh.NewPublicKeysFromFile(user, c.SSHKeyFile, "")
		if err != nil {
			return nil, fmt.Errorf("ssh key file %s: %w", c.SSHKeyFile, err)
		}
		if _, err := os.Stat(c.KnownHostsFile); err != nil {
			return nil, fmt.Errorf("known_hosts file: %w", err)
		}
		cb, err := gitssh.NewKnownHostsCallback(c.KnownHostsFile)
		if err != nil {
			return nil, fmt.Errorf("known_hosts file %s: %w", c.KnownHostsFile, err)
		}
		key.HostKeyCallback = cb
		return key, nil
	case strings.HasPrefix(remote, "http://") || strings.HasPrefix(remote, "https://"):
		if c.SSHKeyFile != "" || c.KnownHostsFile != "" {
			return nil, errors.New("an ssh key or known_hosts file is for ssh repositories; HTTP(S) uses a password or token file")
		}
		if c.PasswordFile == "" {
			if c.Username != "" {
				return nil, errors.New("a username needs a password or token file")
			}
			return nil, nil // a public repository
		}
		data, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("password file: %w", err)
		}
		secret := strings.TrimSpace(string(data))
		if secret == "" {
			return nil, fmt.Errorf("password file %s is empty", c.PasswordFile)
		}
		user := c.Username
		if user == "" {
			user = "git"
		}
		return &githttp.BasicAuth{Username: user, Password: secret}, nil
	default:
		if !c.empty() {
			return nil, errors.New("credentials are for http(s) and ssh repositories, not local ones")
		}
		return nil, nil
	}
}

// sshUser is the user of an ssh URL (ssh://user@host/path or
// user@host:path); "git" when there is none.
func sshUser(remote string) string {
	if u, err := url.Parse(remote); err == nil && u.Scheme == "ssh" {
		if u.User != nil && u.User.Username() != "" {
			return u.User.Username()
		}
		return "git"
	}
	if user, _, ok := strings.Cut(remote, "@"); ok && user != "" && !strings.ContainsAny(user, ":/") {
		return user
	}
	return "git"
}
