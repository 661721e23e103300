package manifest

import "testing"

// TestValidateTolerationSeconds: tolerationSeconds is accepted from Git
// (the node lifecycle controller honours it) only with effect NoExecute,
// as Kubernetes requires.
func TestValidateTolerationSeconds(t *testing.T) {
	const web = "Deployment default/web"
	podSpec := `      containers:
      - name: web
        image: nginx
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 0}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
      - {key: dedicated, operator: Exists, effect: NoSchedule, tolerationSeconds: 5}
`
	want := []wantErr{
		{File: "a.yaml", Line: 18, Object: web, Field: "spec.template.spec.tolerations[2].tolerationSeconds", Msg: "effect must be NoExecute"},
	}
	checkErrors(t, Validate(decodeAll(t, map[string]string{"a.yaml": deployment(podSpec)})), want)
}
