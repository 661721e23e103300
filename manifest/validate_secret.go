package manifest

import (
	"encoding/json"
	"errors"

	corev1 "k8s.io/api/core/v1"
)

// dockerConfig checks the credentials of an image pull Secret as the API
// server does, and as nodeagent/pull.go reads them: a
// kubernetes.io/dockerconfigjson Secret's .dockerconfigjson holds a JSON
// object with "auths"; a kubernetes.io/dockercfg Secret's .dockercfg holds a
// JSON object (registry → credentials). A missing key is reported by
// secretRequiredKeys. Errors name the key, never its value.
func (c *checker) dockerConfig(s *corev1.Secret) {
	var key string
	switch s.Type {
	case corev1.SecretTypeDockerConfigJson:
		key = corev1.DockerConfigJsonKey
	case corev1.SecretTypeDockercfg:
		key = corev1.DockerConfigKey
	default:
		return
	}
	data, ok := s.Data[key]
	if !ok {
		return
	}
	field := c.secretKeyField(key)
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			c.add(field, "key %q of a Secret of type %s must hold valid JSON: syntax error at byte %d", key, s.Type, syn.Offset)
		} else {
			c.add(field, "key %q of a Secret of type %s must hold a JSON object", key, s.Type)
		}
		return
	}
	if s.Type != corev1.SecretTypeDockerConfigJson {
		return
	}
	auths, ok := obj["auths"]
	if !ok {
		c.add(field, `key %q of a Secret of type %s must hold a JSON object with "auths" (registry → credentials), as written by kubectl create secret docker-registry`, key, s.Type)
		return
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(auths, &m); err != nil || m == nil {
		c.add(field, `key %q of a Secret of type %s: "auths" must be a JSON object (registry → credentials)`, key, s.Type)
	}
}

// secretKeyField is the field path of a Secret's key: under stringData
// when the manifest set it there, else under data.
func (c *checker) secretKeyField(key string) string {
	p := joinPath("data", key)
	if _, ok := c.d.lines[p]; !ok {
		if _, inStringData := c.d.lines[joinPath("stringData", key)]; inStringData {
			return joinPath("stringData", key)
		}
	}
	return p
}
