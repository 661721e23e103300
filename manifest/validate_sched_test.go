package manifest

import "testing"

func TestValidateScheduling(t *testing.T) {
	const web = "Deployment default/web"
	podSpec := `      containers:
      - name: web
        image: nginx
      tolerations:
      - {key: dedicated, operator: Equal, value: db, effect: NoSchedule}
      - {operator: Exists}
      - {operator: Equal, value: x}
      - {key: a, operator: Exists, value: x, effect: Sometimes}
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - {key: zone, operator: In, values: [a, b]}
              - {key: cores, operator: Gt, values: [many]}
              - {key: gpu, operator: Exists, values: [x]}
              - {key: disk, operator: Near}
              matchFields:
              - {key: metadata.name, operator: In, values: [n1]}
              - {key: spec.unschedulable, operator: In, values: ["true"]}
`
	f := "spec.template.spec."
	ms := f + "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]."
	want := []wantErr{
		{File: "a.yaml", Line: 18, Object: web, Field: f + "tolerations[2].operator", Msg: "must be Exists when key is empty"},
		{File: "a.yaml", Line: 19, Object: web, Field: f + "tolerations[3].effect", Msg: "must be NoSchedule"},
		{File: "a.yaml", Line: 19, Object: web, Field: f + "tolerations[3].value", Msg: "must be empty when operator is Exists"},
		{File: "a.yaml", Line: 26, Object: web, Field: ms + "matchExpressions[1].values", Msg: `"many" is not an integer`},
		{File: "a.yaml", Line: 27, Object: web, Field: ms + "matchExpressions[2].values", Msg: "must be empty for Exists"},
		{File: "a.yaml", Line: 28, Object: web, Field: ms + "matchExpressions[3].operator", Msg: "must be In, NotIn"},
		{File: "a.yaml", Line: 31, Object: web, Field: ms + "matchFields[1].key", Msg: "only metadata.name"},
	}
	checkErrors(t, Validate(decodeAll(t, map[string]string{"a.yaml": deployment(podSpec)})), want)
}
