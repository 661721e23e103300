package manifest

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeFile checks that no input makes DecodeFile or Validate panic, and
// that what they return is well formed.
func FuzzDecodeFile(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(okDeployment))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("--- |\n  x\n---\nkind: List\n"))
	f.Add([]byte("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: '!!'}\nstringData: {b: 1}\n"))
	f.Add([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 1, targetPort: x, nodePort: 3}]}\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := DecodeFile("f.yaml", data)
		if l, ok := AsErrorList(err); err != nil && (!ok || len(l) == 0) {
			t.Fatalf("error is not a non-empty ErrorList: %v", err)
		}
		for _, d := range objs {
			if d.Object == nil || d.Source.File != "f.yaml" || d.Source.Line < 1 {
				t.Fatalf("bad decoded object %+v", d)
			}
			if d.Object.GetAnnotations()[SourceAnnotation] != d.Source.String() {
				t.Fatalf("object without source annotation: %+v", d)
			}
		}
		verr := Validate(objs)
		if l, ok := AsErrorList(verr); verr != nil && (!ok || len(l) == 0) {
			t.Fatalf("Validate error is not a non-empty ErrorList: %v", verr)
		}
		all, _ := AsErrorList(err)
		vl, _ := AsErrorList(verr)
		for _, e := range append(all, vl...) {
			if e.File != "f.yaml" || e.Line < 0 || e.Msg == "" {
				t.Fatalf("malformed error %+v", e)
			}
		}
	})
}
