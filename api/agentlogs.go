package api

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/tug-dev/tug/api/pki"
	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultNodeLogPort is a node's log listener port when its Node does not
// publish one: the kubelet's.
const DefaultNodeLogPort = 10250

// NodeLogs streams a container's log from the node a pod runs on.
// opts.Container is always set.
type NodeLogs interface {
	NodeLogs(ctx context.Context, node *corev1.Node, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error)
}

// remoteLog opens the log of a pod bound to another node through
// Config.NodeLogs.
func (s *server) remoteLog(r *http.Request, nodeName string, key manifest.Key, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	obj, err := s.cfg.Store.Get(manifest.Key{Kind: manifest.KindNode, Name: nodeName})
	if err != nil {
		if s.cfg.IsNotFound(err) {
			return nil, &StatusError{Status: newStatus(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
				fmt.Sprintf("pod %s runs on node %s, which is not registered: its logs cannot be read", key.Name, nodeName))}
		}
		return nil, &StatusError{Status: internalError(fmt.Errorf("get node %s: %w", nodeName, err))}
	}
	node, ok := obj.(*corev1.Node)
	if !ok {
		return nil, &StatusError{Status: internalError(fmt.Errorf("node %s: stored object is a %T", nodeName, obj))}
	}
	return s.cfg.NodeLogs.NodeLogs(r.Context(), node, key.Namespace, key.Name, opts)
}

// NodeLogAddress is where node serves logs: its InternalIP (else its
// ExternalIP, else its Hostname address) and status.daemonEndpoints'
// kubelet port.
func NodeLogAddress(node *corev1.Node) (string, error) {
	host := ""
	for _, want := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range node.Status.Addresses {
			if a.Type == want && a.Address != "" && host == "" {
				host = a.Address
			}
		}
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	if host == "" || port <= 0 {
		return "", fmt.Errorf("node %s publishes no log endpoint (status.addresses and status.daemonEndpoints.kubeletEndpoint.port): is its agent running?", node.Name)
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port))), nil
}

// logQuery is opts as query parameters, as kubectl sends them.
func logQuery(opts *corev1.PodLogOptions) url.Values {
	q := url.Values{}
	if opts.Follow {
		q.Set("follow", "true")
	}
	if opts.Previous {
		q.Set("previous", "true")
	}
	if opts.Timestamps {
		q.Set("timestamps", "true")
	}
	for name, v := range map[string]*int64{"tailLines": opts.TailLines, "sinceSeconds": opts.SinceSeconds, "limitBytes": opts.LimitBytes} {
		if v != nil {
			q.Set(name, strconv.FormatInt(*v, 10))
		}
	}
	if opts.SinceTime != nil {
		q.Set("sinceTime", opts.SinceTime.UTC().Format(time.RFC3339Nano))
	}
	return q
}

// NodeLogClient reads logs from the nodes' log listeners over TLS
// (pki.NodeLogClientTLS), checking each node's certificate under the
// node's name. It satisfies NodeLogs.
type NodeLogClient struct {
	tls *tls.Config

	mu      sync.Mutex
	clients map[string]*http.Client // by node name
}

// NewNodeLogClient returns a client presenting cfg's certificate.
func NewNodeLogClient(cfg *tls.Config) *NodeLogClient {
	return &NodeLogClient{tls: cfg, clients: map[string]*http.Client{}}
}

func (c *NodeLogClient) client(node string) *http.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if hc := c.clients[node]; hc != nil {
		return hc
	}
	cfg := c.tls.Clone()
	cfg.ServerName = node // the node's serving certificate names it
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}
	hc := &http.Client{Transport: &http.Transport{
		DialContext: dialer.DialContext, TLSClientConfig: cfg, TLSHandshakeTimeout: 10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second, IdleConnTimeout: 90 * time.Second,
	}}
	c.clients[node] = hc
	return hc
}

// NodeLogs opens the log on the node: GET /containerLogs/NS/POD/CONTAINER
// with opts as the query. A node's error answer comes back as a
// *StatusError.
func (c *NodeLogClient) NodeLogs(ctx context.Context, node *corev1.Node, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	addr, err := NodeLogAddress(node)
	if err != nil {
		return nil, &StatusError{Status: newStatus(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, err.Error())}
	}
	u := url.URL{Scheme: "https", Host: addr, Path: "/containerLogs/" + url.PathEscape(namespace) + "/" + url.PathEscape(pod) + "/" + url.PathEscape(opts.Container),
		RawQuery: logQuery(opts).Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client(node.Name).Do(req)
	if err != nil {
		return nil, &StatusError{Status: newStatus(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
			fmt.Sprintf("read the log of pod %s/%s from node %s: %v", namespace, pod, node.Name, err))}
	}
	if resp.StatusCode == http.StatusOK {
		return resp.Body, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var st metav1.Status
	if json.Unmarshal(data, &st) != nil || st.Kind != "Status" {
		st = newStatus(http.StatusBadGateway, metav1.StatusReasonInternalError,
			fmt.Sprintf("node %s answered %s for the log of pod %s/%s", node.Name, resp.Status, namespace, pod))
	}
	st.Code = int32(resp.StatusCode)
	return nil, &StatusError{Status: st}
}

// ObjectGetter reads one object (*state.Store and *remote.Store satisfy
// it).
type ObjectGetter interface {
	Get(key manifest.Key) (manifest.Object, error)
}

// NodeLogConfig configures a node's log listener.
type NodeLogConfig struct {
	// NodeName is this node: only logs of pods bound to it are served.
	NodeName string
	// Store is read for the pods (a remote store's cache). Required.
	Store ObjectGetter
	// IsNotFound tells Store and Logs errors for missing objects apart.
	// Required.
	IsNotFound func(error) bool
	// Logs reads the logs on this node (the node agent). Required.
	Logs   Logs
	Logger *slog.Logger
}

// NewNodeLogHandler returns a node's log listener, to be served over TLS
// with verified client certificates (pki.NodeServingTLS):
//
//	GET /containerLogs/{namespace}/{pod}/{container}?follow=&previous=&tailLines=&sinceSeconds=&sinceTime=&timestamps=&limitBytes=
//
// as the kubelet serves it to kube-apiserver. Only the server's
// certificate (pki.IsServerClient) is served; anything else is 403.
func NewNodeLogHandler(cfg NodeLogConfig) http.Handler {
	if cfg.Store == nil || cfg.IsNotFound == nil || cfg.Logs == nil {
		panic("api.NewNodeLogHandler: Store, IsNotFound and Logs are required")
	}
	s := newServer(Config{IsNotFound: cfg.IsNotFound, Logs: cfg.Logs, Logger: cfg.Logger, NodeName: cfg.NodeName})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		s.nodeLog(w, r, cfg.Store)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { s.writeStatus(w, noSuchResource()) })
	return s.accessLog(s.recover(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || !pki.IsServerClient(r.TLS.VerifiedChains[0][0]) {
			user := "system:anonymous"
			if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
				user = r.TLS.VerifiedChains[0][0].Subject.CommonName
			}
			s.log.Info("log listener request refused", "user", user, "path", r.URL.Path)
			s.writeStatus(w, newStatus(http.StatusForbidden, metav1.StatusReasonForbidden,
				fmt.Sprintf("%s %s is forbidden for user %q: only the server (%s) reads logs from nodes", r.Method, r.URL.Path, user, pki.ServerClientUser)))
			return
		}
		mux.ServeHTTP(w, r)
	})))
}

// nodeLog serves one container's log of a pod bound to this node.
func (s *server) nodeLog(w http.ResponseWriter, r *http.Request, pods ObjectGetter) {
	key := manifest.Key{Kind: manifest.KindPod, Namespace: r.PathValue("namespace"), Name: r.PathValue("pod")}
	opts, err := parseLogOptions(r.URL.Query())
	if err != nil {
		s.writeStatus(w, badRequest(err.Error()))
		return
	}
	obj, err := pods.Get(key)
	if err != nil {
		if s.cfg.IsNotFound(err) {
			s.writeStatus(w, notFound(key.Kind, key.Name))
			return
		}
		s.writeStatus(w, internalError(fmt.Errorf("get %s: %w", key, err)))
		return
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName != s.cfg.NodeName {
		s.writeStatus(w, newStatus(http.StatusNotFound, metav1.StatusReasonNotFound,
			fmt.Sprintf("pod %s/%s does not run on node %s", key.Namespace, key.Name, s.cfg.NodeName)))
		return
	}
	if opts.Container, err = logContainer(pod, r.PathValue("container")); err != nil {
		s.writeStatus(w, badRequest(err.Error()))
		return
	}
	rc, err := s.cfg.Logs.Logs(r.Context(), key.Namespace, key.Name, opts)
	if err != nil {
		s.writeLogError(w, err)
		return
	}
	s.streamLog(w, r, rc, key, opts)
}
