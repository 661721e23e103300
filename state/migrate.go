package state

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// migrations upgrade the schema one version at a time; migrations[i] moves
// the store from version i to i+1. Append only.
var migrations = []func(tx *bolt.Tx) error{
	// 0 → 1: the initial layout.
	func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(bucketRoot)
		if err != nil {
			return err
		}
		for _, name := range [][]byte{bucketMeta, bucketObjects, bucketSyncs} {
			if _, err := root.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	},
}

// SchemaVersion is the version this build writes.
var SchemaVersion = uint64(len(migrations))

func schemaVersion(tx *bolt.Tx) uint64 {
	root := tx.Bucket(bucketRoot)
	if root == nil || root.Bucket(bucketMeta) == nil {
		return 0
	}
	return getUint(root.Bucket(bucketMeta), keySchema)
}

func migrate(tx *bolt.Tx) error {
	v := schemaVersion(tx)
	if v > SchemaVersion {
		return fmt.Errorf("schema version %d is newer than this build's %d; upgrade tug", v, SchemaVersion)
	}
	for ; v < SchemaVersion; v++ {
		if err := migrations[v](tx); err != nil {
			return fmt.Errorf("migration %d→%d: %w", v, v+1, err)
		}
		if err := putUint(tx.Bucket(bucketRoot).Bucket(bucketMeta), keySchema, v+1); err != nil {
			return err
		}
	}
	return nil
}
