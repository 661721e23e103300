package state

import (
	"errors"
	"fmt"
	"time"

	"github.com/tug-dev/tug/manifest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// eventPruneEvery is how often RecordEvent also drops events older than
// manifest.EventTTL.
const eventPruneEvery = time.Minute

// RecordEvent stores ev (see manifest.NewEvent). An event with the same name
// already stored is aggregated: its count grows by ev.Count (at least 1) and
// its lastTimestamp, message and involved object's resource version are
// updated, as the Kubernetes event recorder does. Events last seen more than
// manifest.EventTTL ago are deleted along the way.
func (s *Store) RecordEvent(ev *corev1.Event) error {
	if ev == nil {
		return nil
	}
	key := manifest.Key{Kind: manifest.KindEvent, Namespace: ev.Namespace, Name: ev.Name}
	_, err := s.Update(func(tx *Tx) error {
		cur, err := tx.Get(key)
		switch {
		case err == nil:
			old := cur.(*corev1.Event)
			n := ev.Count
			if n < 1 {
				n = 1
			}
			old.Count += n
			old.Message = ev.Message
			old.InvolvedObject.ResourceVersion = ev.InvolvedObject.ResourceVersion
			if ev.LastTimestamp.After(old.LastTimestamp.Time) {
				old.LastTimestamp = ev.LastTimestamp
			}
			if err := tx.Put(old); err != nil {
				return err
			}
		case errors.Is(err, ErrNotFound):
			c := ev.DeepCopy()
			c.ResourceVersion, c.UID = "", ""
			if c.Count < 1 {
				c.Count = 1
			}
			if c.FirstTimestamp.IsZero() {
				c.FirstTimestamp = metav1.NewTime(tx.Now())
			}
			if c.LastTimestamp.IsZero() {
				c.LastTimestamp = c.FirstTimestamp
			}
			if err := tx.Put(c); err != nil {
				return err
			}
		default:
			return err
		}
		return s.pruneEvents(tx)
	})
	if err != nil {
		return fmt.Errorf("record event %s/%s: %w", ev.Namespace, ev.Name, err)
	}
	return nil
}

// pruneEvents deletes expired events at most once per eventPruneEvery.
// Called inside Update, with s.mu held.
func (s *Store) pruneEvents(tx *Tx) error {
	now := tx.Now()
	if now.Sub(s.lastEventPrune) < eventPruneEvery {
		return nil
	}
	s.lastEventPrune = now
	objs, err := tx.List(manifest.KindEvent, "")
	if err != nil {
		return err
	}
	for _, o := range objs {
		ev := o.(*corev1.Event)
		if now.Sub(ev.LastTimestamp.Time) > manifest.EventTTL {
			if err := tx.Delete(manifest.KeyOf(ev)); err != nil {
				return err
			}
		}
	}
	return nil
}
