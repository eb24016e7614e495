package webhook

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// walkReview is decodeReview's fast path: it walks the tokens of an
// AdmissionReview in the shape the API server sends (each member once,
// names unescaped) into the same reviewEnvelope that jsonv2.Unmarshal
// would give, without the reflection-driven decoder (a third of the
// handler's CPU went there). The JSON is validated as fully as by
// jsonv2.Unmarshal: skipped members are checked by the same tokenizer.
//
// Anything outside that shape (a repeated or escaped member name, a value
// of the wrong kind) returns errOffPath, and decodeReview decodes the body
// with jsonv2.Unmarshal instead, which gives the exact answer, error or
// not. So the walk need only be right when it succeeds: then its result
// equals jsonv2.Unmarshal's (FuzzWalkReview).
func walkReview(body []byte) (review reviewEnvelope, err error) {
	w := walkers.Get().(*walker)
	defer w.put()
	w.src = *bytes.NewBuffer(body)
	w.dec.Reset(&w.src, decodeOptions)
	d := &w.dec

	var seen uint8
	err = walkObject(d, func(name []byte) error {
		switch string(name) {
		case "apiVersion":
			return once(&seen, 1, readString(d, &review.APIVersion))
		case "kind":
			return once(&seen, 2, readString(d, &review.Kind))
		case "request":
			return once(&seen, 4, walkPointer(d, &review.Request, walkRequest))
		}
		return skip(d)
	})
	if err != nil {
		return reviewEnvelope{}, err
	}
	if _, err := d.ReadToken(); err != io.EOF { // one value and nothing after it
		return reviewEnvelope{}, errOffPath
	}
	return review, nil
}

// errOffPath: the body is not in the shape walkReview handles.
var errOffPath = errors.New("webhook: review outside the fast decoding path")

// walker is a pooled decoder over a review body.
type walker struct {
	src bytes.Buffer
	dec jsontext.Decoder
}

var walkers = sync.Pool{New: func() any { return new(walker) }}

func (w *walker) put() {
	w.src = bytes.Buffer{} // drop the body
	w.dec.Reset(&w.src)
	walkers.Put(w)
}

// once marks member bit as seen and returns err (from reading the
// member's value), or errOffPath when the member was seen before: jsonv2
// would merge or replace, so leave that to it.
func once(seen *uint8, bit uint8, err error) error {
	if *seen&bit != 0 {
		return errOffPath
	}
	*seen |= bit
	return err
}

func walkRequest(d *jsontext.Decoder, r *requestView) error {
	var seen uint8
	return walkObject(d, func(name []byte) error {
		switch string(name) {
		case "uid":
			return once(&seen, 1, readString(d, (*string)(&r.UID)))
		case "kind":
			return once(&seen, 2, walkKind(d, &r.Kind))
		case "namespace":
			return once(&seen, 4, readString(d, &r.Namespace))
		case "name":
			return once(&seen, 8, readString(d, &r.Name))
		case "operation":
			return once(&seen, 16, readString(d, (*string)(&r.Operation)))
		case "subResource":
			return once(&seen, 32, readString(d, &r.SubResource))
		case "object":
			return once(&seen, 64, walkPointer(d, &r.Object, walkPod))
		}
		return skip(d)
	})
}

func walkKind(d *jsontext.Decoder, k *metav1.GroupVersionKind) error {
	var seen uint8
	return walkObject(d, func(name []byte) error {
		switch string(name) {
		case "group":
			return once(&seen, 1, readString(d, &k.Group))
		case "version":
			return once(&seen, 2, readString(d, &k.Version))
		case "kind":
			return once(&seen, 4, readString(d, &k.Kind))
		}
		return skip(d)
	})
}

func walkPod(d *jsontext.Decoder, p *podView) error {
	var seen uint8
	return walkObject(d, func(name []byte) error {
		switch string(name) {
		case "metadata":
			return once(&seen, 1, walkMetadata(d, p))
		case "spec":
			return once(&seen, 2, walkSpec(d, p))
		}
		return skip(d)
	})
}

func walkMetadata(d *jsontext.Decoder, p *podView) error {
	m := &p.Metadata
	var seen uint8
	return walkObject(d, func(name []byte) error {
		switch string(name) {
		case "name":
			return once(&seen, 1, readString(d, &m.Name))
		case "generateName":
			return once(&seen, 2, readString(d, &m.GenerateName))
		case "annotations":
			return once(&seen, 4, readStringMap(d, &m.Annotations))
		}
		return skip(d)
	})
}

func walkSpec(d *jsontext.Decoder, p *podView) error {
	s := &p.Spec
	var seen uint8
	return walkObject(d, func(name []byte) error {
		switch string(name) {
		case "serviceAccountName":
			return once(&seen, 1, readString(d, &s.ServiceAccountName))
		case "serviceAccount":
			return once(&seen, 2, readString(d, &s.ServiceAccount))
		case "initContainers":
			return once(&seen, 4, walkContainers(d, &s.InitContainers))
		case "containers":
			return once(&seen, 8, walkContainers(d, &s.Containers))
		case "volumes":
			return once(&seen, 16, walkArray(d, &s.Volumes, func(v *struct {
				Name string `json:"name"`
			}) error {
				return walkNamed(d, &v.Name)
			}))
		}
		return skip(d)
	})
}

func walkContainers(d *jsontext.Decoder, cs *[]containerView) error {
	return walkArray(d, cs, func(c *containerView) error {
		var seen uint8
		return walkObject(d, func(name []byte) error {
			switch string(name) {
			case "name":
				return once(&seen, 1, readString(d, &c.Name))
			case "env":
				return once(&seen, 2, walkArray(d, &c.Env, func(e *struct {
					Name string `json:"name"`
				}) error {
					return walkNamed(d, &e.Name)
				}))
			case "volumeMounts":
				return once(&seen, 4, walkArray(d, &c.VolumeMounts, func(m *struct {
					Name      string `json:"name"`
					MountPath string `json:"mountPath"`
				}) error {
					var mseen uint8
					return walkObject(d, func(name []byte) error {
						switch string(name) {
						case "name":
							return once(&mseen, 1, readString(d, &m.Name))
						case "mountPath":
							return once(&mseen, 2, readString(d, &m.MountPath))
						}
						return skip(d)
					})
				}))
			}
			return skip(d)
		})
	})
}

// walkPointer reads null as nil, else a new value filled by walk.
func walkPointer[T any](d *jsontext.Decoder, p **T, walk func(*jsontext.Decoder, *T) error) error {
	if d.PeekKind() == 'n' {
		*p = nil
		return readNull(d)
	}
	*p = new(T)
	return walk(d, *p)
}

// walkNamed reads an object of which only "name" is kept.
func walkNamed(d *jsontext.Decoder, name *string) error {
	var seen uint8
	return walkObject(d, func(member []byte) error {
		if string(member) == "name" {
			return once(&seen, 1, readString(d, name))
		}
		return skip(d)
	})
}

// walkObject reads an object, calling member with each (unescaped) name;
// member must consume the value. A null is an empty object: the value
// being filled is fresh, so that is jsonv2's zero value.
func walkObject(d *jsontext.Decoder, member func(name []byte) error) error {
	switch d.PeekKind() {
	case 'n':
		return readNull(d)
	case '{':
	default:
		return errOffPath
	}
	if _, err := d.ReadToken(); err != nil {
		return err
	}
	for d.PeekKind() != '}' {
		name, err := d.ReadValue()
		if err != nil {
			return err
		}
		if bytes.IndexByte(name, '\\') >= 0 {
			return errOffPath
		}
		if err := member(name[1 : len(name)-1]); err != nil {
			return err
		}
	}
	_, err := d.ReadToken()
	return err
}

// walkArray reads an array into a new slice (nil for null), elem filling
// each zero element.
func walkArray[T any](d *jsontext.Decoder, s *[]T, elem func(*T) error) error {
	switch d.PeekKind() {
	case 'n':
		*s = nil
		return readNull(d)
	case '[':
	default:
		return errOffPath
	}
	if _, err := d.ReadToken(); err != nil {
		return err
	}
	out := make([]T, 0, 4)
	for d.PeekKind() != ']' {
		out = append(out, *new(T))
		if err := elem(&out[len(out)-1]); err != nil {
			return err
		}
	}
	*s = out
	_, err := d.ReadToken()
	return err
}

// readString reads a string, or null as "".
func readString(d *jsontext.Decoder, s *string) error {
	switch d.PeekKind() {
	case 'n':
		*s = ""
		return readNull(d)
	case '"':
	default:
		return errOffPath
	}
	v, err := d.ReadValue()
	if err != nil {
		return err
	}
	*s, err = unquote(v)
	return err
}

// readStringMap reads an object of strings into a new map (nil for null);
// a repeated key keeps its last value, as with jsonv2.
func readStringMap(d *jsontext.Decoder, m *map[string]string) error {
	switch d.PeekKind() {
	case 'n':
		*m = nil
		return readNull(d)
	case '{':
	default:
		return errOffPath
	}
	if _, err := d.ReadToken(); err != nil {
		return err
	}
	out := make(map[string]string)
	for d.PeekKind() != '}' {
		k, err := d.ReadValue()
		if err != nil {
			return err
		}
		key, err := unquote(k)
		if err != nil {
			return err
		}
		var v string
		if err := readString(d, &v); err != nil {
			return err
		}
		out[key] = v
	}
	*m = out
	_, err := d.ReadToken()
	return err
}

func readNull(d *jsontext.Decoder) error {
	_, err := d.ReadToken()
	return err
}

// unquote is the string a quoted JSON string (as the decoder returned it,
// so valid) stands for.
func unquote(v jsontext.Value) (string, error) {
	if bytes.IndexByte(v, '\\') < 0 {
		raw := v[1 : len(v)-1]
		switch string(raw) { // values every review repeats, without allocating
		case reviewV1:
			return reviewV1, nil
		case "AdmissionReview":
			return "AdmissionReview", nil
		case "v1":
			return "v1", nil
		case "Pod":
			return "Pod", nil
		case "CREATE":
			return "CREATE", nil
		}
		return string(raw), nil
	}
	b, err := jsontext.AppendUnquote(nil, v)
	return string(b), err
}

// skip reads past a member's value. Decoder.SkipValue walks an object or
// array token by token so as not to hold it; the body is in memory anyway,
// and ReadValue validates it in one pass, several times faster.
func skip(d *jsontext.Decoder) error {
	_, err := d.ReadValue()
	return err
}
