package api

import (
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tuxboot/tuxboot/runner/boot"
)

var pathParamRE = regexp.MustCompile(`\{([a-z]+)\}`)

// components are the named schemas of the description: the Go types the
// API reads and writes, by the names routes use. Their schemas are made
// from the types themselves, as encoding/json sees them, so a field
// cannot be served without being described.
var components = []struct {
	name string
	v    any
}{
	{"Submission", Submission{}},
	{"Request", boot.Request{}},
	{"Status", View{}},
	{"TestList", List{}},
	{"Results", boot.Result{}},
	{"Event", boot.Event{}},
	{"Plan", Plan{}},
	{"PlanTest", PlanTest{}},
	{"PlanStatus", PlanView{}},
	{"Keys", Keys{}},
	{"Error", apiError{}},
}

// openapi describes the routes of the table they are served from.
func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.openapiDoc())
}

func (s *Server) openapiDoc() map[string]any {
	schemas := newSchemaSet()
	// Named first, so a component referred to before its turn has its name.
	for _, c := range components {
		schemas.names[reflect.TypeOf(c.v)] = c.name
	}
	for _, c := range components {
		schemas.define(c.name, reflect.TypeOf(c.v))
	}
	// What a request must give; the rest has defaults.
	schemas.defs["Request"]["required"] = []string{"device", "kernel"}
	schemas.defs["Submission"]["required"] = []string{"device", "kernel"}
	schemas.defs["PlanTest"]["required"] = []string{}
	schemas.defs["PlanTest"]["description"] = "a request; devices and kernels (exclusive with device and kernel) make a matrix of every device with every kernel"

	errorReply := map[string]any{
		"description": "JSON error: {error, reason}",
		"content":     map[string]any{"application/json": map[string]any{"schema": ref("Error")}},
	}
	paths := map[string]map[string]any{}
	for _, rt := range s.routes() {
		replyType := rt.ReplyType
		if replyType == "" {
			replyType = "application/json"
		}
		var replySchema any = map[string]string{"type": "string"}
		switch {
		case rt.Reply != "":
			replySchema = ref(rt.Reply)
		case replyType == "application/json":
			replySchema = map[string]string{"type": "object"}
		}
		op := map[string]any{
			"summary":     rt.Summary,
			"operationId": strings.ToLower(rt.Method) + strings.NewReplacer("/", "_", "{", "", "}", "", ".", "_").Replace(rt.Path),
			"responses": map[string]any{
				strconv.Itoa(rt.Code): map[string]any{
					"description": http.StatusText(rt.Code),
					"content":     map[string]any{replyType: map[string]any{"schema": replySchema}},
				},
				"default": errorReply,
			},
		}
		if rt.Body != "" {
			content := map[string]any{"application/json": map[string]any{"schema": ref(rt.Body)}}
			if rt.Body == "Plan" {
				content["application/yaml"] = map[string]any{"schema": ref(rt.Body)}
			}
			op["requestBody"] = map[string]any{"required": true, "content": content}
		}
		var params []map[string]any
		for _, m := range pathParamRE.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.Auth {
			op["security"] = []map[string][]string{{"token": {}}}
		}
		if paths[rt.Path] == nil {
			paths[rt.Path] = map[string]any{}
		}
		paths[rt.Path][strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]string{"title": "TuxBoot API", "version": "v1"},
		"paths":   paths,
		"components": map[string]any{
			"schemas": schemas.defs,
			"securitySchemes": map[string]any{
				"token": map[string]string{"type": "http", "scheme": "bearer", "description": "a token of the path's group; a bare Authorization: TOKEN is accepted too"},
			},
		},
	}
}

func ref(name string) map[string]string {
	return map[string]string{"$ref": "#/components/schemas/" + name}
}

// schemaSet makes JSON Schemas (OpenAPI 3.1) of Go types as encoding/json
// marshals them. Named struct types become components, referenced by name.
type schemaSet struct {
	defs  map[string]map[string]any
	names map[reflect.Type]string
}

func newSchemaSet() *schemaSet {
	return &schemaSet{defs: map[string]map[string]any{}, names: map[reflect.Type]string{}}
}

var timeType = reflect.TypeOf(time.Time{})

// define makes t the component name, once.
func (s *schemaSet) define(name string, t reflect.Type) {
	if _, ok := s.defs[name]; ok {
		return
	}
	s.names[t] = name
	s.defs[name] = map[string]any{} // a placeholder, against recursion
	s.defs[name] = s.object(t)
}

// of is the schema of a value of type t.
func (s *schemaSet) of(t reflect.Type) map[string]any {
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return map[string]any{"anyOf": []any{s.of(t.Elem()), map[string]string{"type": "null"}}}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": s.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": s.of(t.Elem())}
	case reflect.Struct:
		if t.Name() == "" {
			return s.object(t)
		}
		name, ok := s.names[t]
		if !ok {
			name = t.Name()
			if slices.Contains(slices.Collect(maps.Values(s.names)), name) {
				name = strings.ReplaceAll(t.String(), ".", "_")
			}
		}
		s.define(name, t)
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

// object is a struct's schema: its JSON fields, embedded structs' fields
// among them; those always written (no omitempty) are required.
func (s *schemaSet) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	s.fields(t, props, &required)
	slices.Sort(required)
	return map[string]any{"type": "object", "properties": props, "required": required}
}

func (s *schemaSet) fields(t reflect.Type, props map[string]any, required *[]string) {
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			embedded = append(embedded, f.Type)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = s.of(f.Type)
		if !slices.Contains(strings.Split(opts, ","), "omitempty") {
			*required = append(*required, name)
		}
	}
	// An embedded struct's fields after the outer ones, which win, as
	// they do for encoding/json.
	for _, et := range embedded {
		inner := map[string]any{}
		var innerRequired []string
		s.fields(et, inner, &innerRequired)
		for name, schema := range inner {
			if _, ok := props[name]; !ok {
				props[name] = schema
				if slices.Contains(innerRequired, name) {
					*required = append(*required, name)
				}
			}
		}
	}
}
