package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultServer is where tugd serves the API unless told otherwise.
const DefaultServer = "http://127.0.0.1:7443"

// Client reads the API of one tug server.
type Client struct {
	BaseURL string       // "http://127.0.0.1:7443"
	HTTP    *http.Client // http.DefaultClient when nil
}

// NewClient returns a client for server ("http://127.0.0.1:7443"; a bare
// "host:port" means http).
func NewClient(server string) *Client {
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	return &Client{BaseURL: strings.TrimRight(server, "/")}
}

// resourcePath is the collection path of kind, in namespace when the kind
// is namespaced and namespace is not empty.
func resourcePath(kind, namespace string) (string, error) {
	gvk, ok := manifest.GVK(kind)
	if !ok {
		return "", fmt.Errorf("kind %q: %w", kind, manifest.ErrUnknownKind)
	}
	p := "/api/v1"
	if gvk.Group != "" {
		p = "/apis/" + gvk.Group + "/" + gvk.Version
	}
	if namespace != "" && manifest.Namespaced(kind) {
		p += "/namespaces/" + url.PathEscape(namespace)
	}
	return p + "/" + manifest.Plural(kind), nil
}

// List returns the objects of kind in namespace (every namespace when
// empty) that match the label selector (all when empty).
func (c *Client) List(ctx context.Context, kind, namespace, selector string) ([]manifest.Object, error) {
	p, err := resourcePath(kind, namespace)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if selector != "" {
		q.Set("labelSelector", selector)
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := c.getJSON(ctx, p, q, &list); err != nil {
		return nil, err
	}
	out := make([]manifest.Object, 0, len(list.Items))
	for i, raw := range list.Items {
		obj, err := manifest.New(kind)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, obj); err != nil {
			return nil, fmt.Errorf("decode %s item %d from %s: %w", manifest.Plural(kind), i, c.BaseURL, err)
		}
		manifest.SetTypeMeta(obj)
		out = append(out, obj)
	}
	return out, nil
}

// Get returns one object. A missing object is an error for which
// IsNotFound holds, whose message reads like kubectl's.
func (c *Client) Get(ctx context.Context, kind, namespace, name string) (manifest.Object, error) {
	if name == "" {
		return nil, fmt.Errorf("get %s: empty name", manifest.Plural(kind))
	}
	if manifest.Namespaced(kind) && namespace == "" {
		return nil, fmt.Errorf("get %s %q: a namespace is required", manifest.Plural(kind), name)
	}
	p, err := resourcePath(kind, namespace)
	if err != nil {
		return nil, err
	}
	obj, err := manifest.New(kind)
	if err != nil {
		return nil, err
	}
	if err := c.getJSON(ctx, p+"/"+url.PathEscape(name), nil, obj); err != nil {
		return nil, err
	}
	manifest.SetTypeMeta(obj)
	return obj, nil
}

// Status returns the server's sync and object summary.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	if err := c.getJSON(ctx, "/tug/v1/status", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Syncs returns up to limit sync records, newest first (all when ≤ 0).
func (c *Client) Syncs(ctx context.Context, limit int) ([]manifest.SyncRecord, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var list SyncList
	if err := c.getJSON(ctx, "/tug/v1/syncs", q, &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// Logs streams a container's log. With opts.Follow the stream stays open
// until ctx ends or the container's log ends; the caller closes it.
func (c *Client) Logs(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	q := url.Values{}
	if opts != nil {
		if opts.Container != "" {
			q.Set("container", opts.Container)
		}
		if opts.Follow {
			q.Set("follow", "true")
		}
		if opts.Previous {
			q.Set("previous", "true")
		}
		if opts.Timestamps {
			q.Set("timestamps", "true")
		}
		if opts.TailLines != nil {
			q.Set("tailLines", strconv.FormatInt(*opts.TailLines, 10))
		}
		if opts.SinceSeconds != nil {
			q.Set("sinceSeconds", strconv.FormatInt(*opts.SinceSeconds, 10))
		}
		if opts.LimitBytes != nil {
			q.Set("limitBytes", strconv.FormatInt(*opts.LimitBytes, 10))
		}
		if opts.SinceTime != nil {
			q.Set("sinceTime", opts.SinceTime.UTC().Format(time.RFC3339Nano))
		}
	}
	p := "/api/v1/namespaces/" + url.PathEscape(namespace) + "/pods/" + url.PathEscape(pod) + "/log"
	resp, err := c.do(ctx, p, q)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func (c *Client) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	resp, err := c.do(ctx, path, q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decode answer of %s%s: %w", c.BaseURL, path, err)
	}
	return nil
}

// do sends a GET and returns a 2xx response; any other answer becomes an
// error carrying the server's message.
func (c *Client) do(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	u := c.BaseURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("tug server %q: %w", c.BaseURL, err)
	}
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("cannot reach the tug server at %s (%v): start tugd or set --server/TUG_SERVER", c.BaseURL, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var st metav1.Status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" && st.Message != "" {
		if st.Code == 0 {
			st.Code = int32(resp.StatusCode)
		}
		return nil, &StatusError{Status: st}
	}
	st = newStatus(resp.StatusCode, metav1.StatusReasonUnknown,
		fmt.Sprintf("server %s answered %s for %s", c.BaseURL, resp.Status, path))
	return nil, &StatusError{Status: st}
}
