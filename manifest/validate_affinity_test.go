package manifest

import "testing"

func TestValidateAffinityAndSpread(t *testing.T) {
	const web = "Deployment default/web"
	podSpec := `      containers:
      - name: web
        image: nginx
      affinity:
        nodeAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 0
            preference:
              matchExpressions:
              - {key: zone, operator: In}
        podAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: db}}
            topologyKey: ""
          - labelSelector: {matchExpressions: [{key: app, operator: Maybe}]}
            topologyKey: "bad key!"
            namespaces: [Shop]
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 101
            podAffinityTerm:
              labelSelector: {matchLabels: {app: web}}
              topologyKey: kubernetes.io/hostname
      topologySpreadConstraints:
      - maxSkew: 0
        topologyKey: topology.kubernetes.io/zone
        whenUnsatisfiable: DoNotSchedule
        labelSelector: {matchLabels: {app: web}}
      - maxSkew: 1
        topologyKey: topology.kubernetes.io/zone
        whenUnsatisfiable: DoNotSchedule
        minDomains: 0
      - maxSkew: 1
        topologyKey: ""
        whenUnsatisfiable: Sometimes
        nodeTaintsPolicy: Always
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: ScheduleAnyway
        minDomains: 2
        matchLabelKeys: [app]
        labelSelector: {matchLabels: {app: web}}
`
	f := "spec.template.spec."
	na := f + "affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]."
	pa := f + "affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution["
	anti := f + "affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]."
	ts := f + "topologySpreadConstraints["
	want := []wantErr{
		{File: "a.yaml", Line: 18, Object: web, Field: na + "weight", Msg: "must be in the range 1-100, got 0"},
		{File: "a.yaml", Line: 21, Object: web, Field: na + "preference.matchExpressions[0].values", Msg: "at least one value is required for In"},
		{File: "a.yaml", Line: 25, Object: web, Field: pa + "0].topologyKey", Msg: "can not be empty"},
		{File: "a.yaml", Line: 26, Object: web, Field: pa + "1].labelSelector", Msg: "invalid selector"},
		{File: "a.yaml", Line: 27, Object: web, Field: pa + "1].topologyKey", Msg: "topologyKey"},
		{File: "a.yaml", Line: 28, Object: web, Field: pa + "1].namespaces[0]", Msg: `"Shop"`},
		{File: "a.yaml", Line: 31, Object: web, Field: anti + "weight", Msg: "must be in the range 1-100, got 101"},
		{File: "a.yaml", Line: 36, Object: web, Field: ts + "0].maxSkew", Msg: "must be greater than zero, got 0"},
		{File: "a.yaml", Line: 40, Object: web, Field: ts + "1]", Msg: `duplicate constraint for topologyKey "topology.kubernetes.io/zone"`},
		{File: "a.yaml", Line: 43, Object: web, Field: ts + "1].minDomains", Msg: "must be greater than zero"},
		{File: "a.yaml", Line: 45, Object: web, Field: ts + "2].topologyKey", Msg: "can not be empty"},
		{File: "a.yaml", Line: 46, Object: web, Field: ts + "2].whenUnsatisfiable", Msg: "must be DoNotSchedule or ScheduleAnyway"},
		{File: "a.yaml", Line: 47, Object: web, Field: ts + "2].nodeTaintsPolicy", Msg: "must be Honor or Ignore"},
		{File: "a.yaml", Line: 51, Object: web, Field: ts + "3].minDomains", Msg: "only be set when whenUnsatisfiable is DoNotSchedule"},
		{File: "a.yaml", Line: 52, Object: web, Field: ts + "3].matchLabelKeys[0]", Msg: `"app" is also in labelSelector.matchLabels`},
	}
	checkErrors(t, Validate(decodeAll(t, map[string]string{"a.yaml": deployment(podSpec)})), want)
}

func TestValidatePodDisruptionBudget(t *testing.T) {
	pdb := func(name, spec string) string {
		return "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: " + name + "\nspec:\n" + spec
	}
	files := map[string]string{
		"ok.yaml":    pdb("ok", "  minAvailable: 50%\n  selector: {matchLabels: {app: web}}\n  unhealthyPodEvictionPolicy: AlwaysAllow\n"),
		"both.yaml":  pdb("both", "  minAvailable: 1\n  maxUnavailable: 1\n  selector: {matchLabels: {app: web}}\n"),
		"none.yaml":  pdb("none", "  selector: {matchLabels: {app: web}}\n"),
		"bad.yaml":   pdb("bad", "  maxUnavailable: 150%\n  unhealthyPodEvictionPolicy: Never\n"),
		"neg.yaml":   pdb("neg", "  minAvailable: -1\n  selector: {matchExpressions: [{key: app, operator: In}]}\n"),
		"words.yaml": pdb("words", "  minAvailable: half\n  selector: {}\n"),
	}
	want := []wantErr{
		{File: "bad.yaml", Line: 5, Object: "PodDisruptionBudget default/bad", Field: "spec.selector", Msg: "selector is required"},
		{File: "bad.yaml", Line: 6, Object: "PodDisruptionBudget default/bad", Field: "spec.maxUnavailable", Msg: "must be a percentage from 0% to 100%, got 150%"},
		{File: "bad.yaml", Line: 7, Object: "PodDisruptionBudget default/bad", Field: "spec.unhealthyPodEvictionPolicy", Msg: "must be IfHealthyBudget or AlwaysAllow"},
		{File: "both.yaml", Line: 5, Object: "PodDisruptionBudget default/both", Field: "spec", Msg: "minAvailable and maxUnavailable cannot be both set"},
		{File: "neg.yaml", Line: 6, Object: "PodDisruptionBudget default/neg", Field: "spec.minAvailable", Msg: "must be greater than or equal to 0"},
		{File: "neg.yaml", Line: 7, Object: "PodDisruptionBudget default/neg", Field: "spec.selector", Msg: "invalid selector"},
		{File: "none.yaml", Line: 5, Object: "PodDisruptionBudget default/none", Field: "spec", Msg: "set one of minAvailable or maxUnavailable"},
		{File: "words.yaml", Line: 6, Object: "PodDisruptionBudget default/words", Field: "spec.minAvailable", Msg: `"half" must be an integer or a percentage`},
	}
	checkErrors(t, Validate(decodeAll(t, files)), want)
}
