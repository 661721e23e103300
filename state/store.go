package state

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tug-dev/tug/manifest"
	bolt "go.etcd.io/bbolt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
)

// ErrNotFound is returned when an object does not exist.
var ErrNotFound = errors.New("not found")

var (
	bucketRoot    = []byte("tug")
	bucketMeta    = []byte("meta")
	bucketObjects = []byte("objects")
	bucketSyncs   = []byte("syncs")
	keySchema     = []byte("schema")
	keyRV         = []byte("rv")
)

// Options configure a Store.
type Options struct {
	Logger *slog.Logger
	Clock  func() time.Time // defaults to time.Now
	// Timeout bounds waiting for the file lock at open.
	Timeout time.Duration
}

// Store is the bbolt-backed observed state with watch fan-out.
type Store struct {
	db    *bolt.DB
	log   *slog.Logger
	clock func() time.Time

	mu     sync.Mutex // orders commits and their fan-out
	nextID int
	subs   map[int]*watcher
	// lastEventPrune is when RecordEvent last dropped expired events.
	lastEventPrune time.Time
}

// Open opens (or creates) the store at path and migrates it to the current
// schema.
func Open(path string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	s := &Store{db: db, log: opts.Logger, clock: opts.Clock, subs: map[int]*watcher{}}
	if err := db.Update(migrate); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate state %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database and every watch.
func (s *Store) Close() error {
	s.mu.Lock()
	for id, w := range s.subs {
		close(w.ch)
		delete(s.subs, id)
	}
	s.mu.Unlock()
	return s.db.Close()
}

func objectKey(namespace, name string) []byte {
	return []byte(namespace + "/" + name)
}

func kindBucket(tx *bolt.Tx, kind string, create bool) (*bolt.Bucket, error) {
	objs := tx.Bucket(bucketRoot).Bucket(bucketObjects)
	if b := objs.Bucket([]byte(kind)); b != nil || !create {
		return b, nil
	}
	return objs.CreateBucket([]byte(kind))
}

func decode(kind string, data []byte) (manifest.Object, error) {
	obj, err := manifest.New(kind)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", kind, err)
	}
	manifest.SetTypeMeta(obj)
	return obj, nil
}

// Get returns the object with key, or ErrNotFound.
func (s *Store) Get(key manifest.Key) (manifest.Object, error) {
	var obj manifest.Object
	err := s.db.View(func(btx *bolt.Tx) error {
		var err error
		obj, err = (&Tx{btx: btx}).Get(key)
		return err
	})
	return obj, err
}

// List returns every object of kind, ordered by namespace and name. An empty
// namespace lists all namespaces.
func (s *Store) List(kind, namespace string) ([]manifest.Object, error) {
	var out []manifest.Object
	err := s.db.View(func(btx *bolt.Tx) error {
		var err error
		out, err = (&Tx{btx: btx}).List(kind, namespace)
		return err
	})
	return out, err
}

// ListAs lists objects of kind as their concrete type T (for example
// corev1.Pod).
func ListAs[T any, PT interface {
	*T
	manifest.Object
}](s *Store, namespace string) ([]PT, error) {
	kind := manifest.KindOf(PT(new(T)))
	objs, err := s.List(kind, namespace)
	if err != nil {
		return nil, err
	}
	out := make([]PT, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(PT))
	}
	return out, nil
}

// ResourceVersion returns the last resource version handed out.
func (s *Store) ResourceVersion() (uint64, error) {
	var rv uint64
	err := s.db.View(func(btx *bolt.Tx) error {
		rv = getUint(btx.Bucket(bucketRoot).Bucket(bucketMeta), keyRV)
		return nil
	})
	return rv, err
}

// Update runs fn in one write transaction. Every Put and Delete in fn commits
// together or not at all; watchers see the events after the commit. It
// returns the last resource version written.
func (s *Store) Update(fn func(tx *Tx) error) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := &Tx{now: s.clock()}
	err := s.db.Update(func(btx *bolt.Tx) error {
		tx.btx = btx
		tx.meta = btx.Bucket(bucketRoot).Bucket(bucketMeta)
		tx.rv = getUint(tx.meta, keyRV)
		if err := fn(tx); err != nil {
			return err
		}
		return putUint(tx.meta, keyRV, tx.rv)
	})
	if err != nil {
		return 0, err
	}
	s.publish(tx.events)
	return tx.rv, nil
}

// Tx is one transaction. Read methods work in every transaction; Put and
// Delete only inside Update.
type Tx struct {
	btx    *bolt.Tx
	meta   *bolt.Bucket
	rv     uint64
	now    time.Time
	events []Event
}

// Get returns the object with key, or an error wrapping ErrNotFound.
func (tx *Tx) Get(key manifest.Key) (manifest.Object, error) {
	b, err := kindBucket(tx.btx, key.Kind, false)
	if err != nil {
		return nil, err
	}
	var data []byte
	if b != nil {
		data = b.Get(objectKey(key.Namespace, key.Name))
	}
	if data == nil {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return decode(key.Kind, data)
}

// List returns the objects of kind in namespace (all when empty), sorted.
func (tx *Tx) List(kind, namespace string) ([]manifest.Object, error) {
	if _, err := manifest.New(kind); err != nil {
		return nil, err
	}
	b, err := kindBucket(tx.btx, kind, false)
	if err != nil || b == nil {
		return nil, err
	}
	var out []manifest.Object
	c := b.Cursor()
	prefix := []byte(namespace + "/")
	var k, v []byte
	if namespace == "" {
		k, v = c.First()
	} else {
		k, v = c.Seek(prefix)
	}
	for ; k != nil; k, v = c.Next() {
		if namespace != "" && !strings.HasPrefix(string(k), string(prefix)) {
			break
		}
		obj, err := decode(kind, v)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", kind, k, err)
		}
		out = append(out, obj)
	}
	return out, nil
}

// Put creates or replaces obj. It assigns a new resource version, and a UID
// and creation timestamp when the object has none. The caller's object is
// updated with them.
func (tx *Tx) Put(obj manifest.Object) error {
	kind := manifest.KindOf(obj)
	if kind == "" {
		return fmt.Errorf("put %T: %w", obj, manifest.ErrUnknownKind)
	}
	key := manifest.KeyOf(obj)
	if key.Name == "" {
		return fmt.Errorf("put %s: empty name", kind)
	}
	b, err := kindBucket(tx.btx, kind, true)
	if err != nil {
		return err
	}
	k := objectKey(key.Namespace, key.Name)
	evType := Added
	if old := b.Get(k); old != nil {
		evType = Modified
		if obj.GetUID() == "" {
			var prev metav1.PartialObjectMetadata
			if err := json.Unmarshal(old, &prev); err == nil {
				obj.SetUID(prev.UID)
				if ts := obj.GetCreationTimestamp(); ts.IsZero() {
					obj.SetCreationTimestamp(prev.CreationTimestamp)
				}
			}
		}
	}
	if obj.GetUID() == "" {
		obj.SetUID(types.UID(uuid.NewUUID()))
	}
	if ts := obj.GetCreationTimestamp(); ts.IsZero() {
		obj.SetCreationTimestamp(metav1.NewTime(tx.now))
	}
	tx.rv++
	obj.SetResourceVersion(fmt.Sprint(tx.rv))
	manifest.SetTypeMeta(obj)
	data, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if err := b.Put(k, data); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	tx.events = append(tx.events, Event{Type: evType, Key: key, Object: manifest.DeepCopy(obj), ResourceVersion: tx.rv})
	return nil
}

// Delete removes the object with key. Deleting a missing object is not an
// error, so deletes are safe to repeat.
func (tx *Tx) Delete(key manifest.Key) error {
	b, err := kindBucket(tx.btx, key.Kind, false)
	if err != nil || b == nil {
		return err
	}
	k := objectKey(key.Namespace, key.Name)
	old := b.Get(k)
	if old == nil {
		return nil
	}
	obj, err := decode(key.Kind, old)
	if err != nil {
		return err
	}
	if err := b.Delete(k); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	tx.rv++
	obj.SetResourceVersion(fmt.Sprint(tx.rv))
	tx.events = append(tx.events, Event{Type: Deleted, Key: key, Object: obj, ResourceVersion: tx.rv})
	return nil
}

// Now is the transaction's clock reading.
func (tx *Tx) Now() time.Time { return tx.now }

func getUint(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putUint(b *bolt.Bucket, k []byte, v uint64) error {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], v)
	return b.Put(k, buf[:])
}

// ErrConflict is returned when a write's precondition (resource version or
// UID) no longer holds; the caller reads again and re-plans.
var ErrConflict = errors.New("conflict")

// Apply writes puts and deletes in one transaction, with rec (when not nil)
// appended to the sync history in the same commit.
//
// A put whose ResourceVersion is set must match the stored one (optimistic
// concurrency, as in Kubernetes); an empty ResourceVersion creates or
// replaces. A delete whose UID is set removes the object only while the
// stored one has that UID. Any failed precondition fails the whole batch with
// ErrConflict.
func (s *Store) Apply(puts, deletes []manifest.Object, rec *manifest.SyncRecord) (uint64, error) {
	return s.Update(func(tx *Tx) error {
		for _, obj := range puts {
			if want := obj.GetResourceVersion(); want != "" {
				cur, err := tx.Get(manifest.KeyOf(obj))
				if err != nil {
					return fmt.Errorf("update %s: %w", manifest.KeyOf(obj), ErrConflict)
				}
				if cur.GetResourceVersion() != want {
					return fmt.Errorf("update %s at version %s (stored %s): %w", manifest.KeyOf(obj), want, cur.GetResourceVersion(), ErrConflict)
				}
			}
			if err := tx.Put(obj); err != nil {
				return err
			}
		}
		for _, obj := range deletes {
			key := manifest.KeyOf(obj)
			if uid := obj.GetUID(); uid != "" {
				cur, err := tx.Get(key)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if cur.GetUID() != uid {
					continue // a newer object took the name; it is not ours to delete
				}
			}
			if err := tx.Delete(key); err != nil {
				return err
			}
		}
		if rec != nil {
			return tx.RecordSync(rec)
		}
		return nil
	})
}

// Mutate reads the object with key (nil when missing), lets fn return the
// object to store (nil: leave it as it is), and writes it, all in one
// transaction, so concurrent writers never lose each other's changes.
func (s *Store) Mutate(key manifest.Key, fn func(cur manifest.Object) (manifest.Object, error)) error {
	return s.MutateAll([]manifest.Key{key}, func(_ int, cur manifest.Object) (manifest.Object, error) { return fn(cur) })
}

// MutateAll is Mutate for several keys in one transaction, so one commit
// (one fsync) carries them all: fn gets each key's index and current
// object (nil when missing) and returns the object to store (nil: leave
// it). An error from fn aborts every write.
func (s *Store) MutateAll(keys []manifest.Key, fn func(i int, cur manifest.Object) (manifest.Object, error)) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := s.Update(func(tx *Tx) error {
		for i, key := range keys {
			cur, err := tx.Get(key)
			if errors.Is(err, ErrNotFound) {
				cur, err = nil, nil
			}
			if err != nil {
				return err
			}
			next, err := fn(i, cur)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			if next == nil {
				continue
			}
			if err := tx.Put(next); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// Delete removes the object with key if its UID is uid (any UID when empty).
func (s *Store) Delete(key manifest.Key, uid types.UID) error {
	obj, err := manifest.New(key.Kind)
	if err != nil {
		return err
	}
	obj.SetNamespace(key.Namespace)
	obj.SetName(key.Name)
	obj.SetUID(uid)
	_, err = s.Apply(nil, []manifest.Object{obj}, nil)
	return err
}
