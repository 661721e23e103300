package state

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/tug-dev/tug/manifest"
	bolt "go.etcd.io/bbolt"
)

// maxSyncs is how many sync records are kept.
const maxSyncs = 500

// RecordSync appends rec to the sync history (assigning its Seq) and trims
// the oldest records beyond the limit.
func (s *Store) RecordSync(rec manifest.SyncRecord) (manifest.SyncRecord, error) {
	_, err := s.Update(func(tx *Tx) error {
		return tx.RecordSync(&rec)
	})
	return rec, err
}

// RecordSync appends rec inside a transaction, so a sync's objects and its
// record commit together.
func (tx *Tx) RecordSync(rec *manifest.SyncRecord) error {
	b := tx.btx.Bucket(bucketRoot).Bucket(bucketSyncs)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	rec.Seq = seq
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := b.Put(seqKey(seq), data); err != nil {
		return fmt.Errorf("record sync %s: %w", rec.SHA, err)
	}
	if seq > maxSyncs {
		c := b.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= seq-maxSyncs; k, _ = c.First() {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// Syncs returns up to limit sync records, newest first (all when limit ≤ 0).
func (s *Store) Syncs(limit int) ([]manifest.SyncRecord, error) {
	var out []manifest.SyncRecord
	err := s.db.View(func(btx *bolt.Tx) error {
		c := btx.Bucket(bucketRoot).Bucket(bucketSyncs).Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var rec manifest.SyncRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("sync record %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// LastApplied returns the newest Applied sync record, if any.
func (s *Store) LastApplied() (manifest.SyncRecord, bool, error) {
	var (
		rec   manifest.SyncRecord
		found bool
	)
	err := s.db.View(func(btx *bolt.Tx) error {
		c := btx.Bucket(bucketRoot).Bucket(bucketSyncs).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			if rec.Outcome == manifest.OutcomeApplied {
				found = true
				return nil
			}
		}
		return nil
	})
	return rec, found, err
}

func seqKey(seq uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	return b[:]
}
