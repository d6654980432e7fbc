package gateway

import (
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// The API documentation: /openapi.yaml serves the document as it is in the
// repository, and /docs renders it as a page. The page is built here, on the
// server, from the document itself, so it needs no scripts from the internet
// and cannot drift from what it describes.

type apiDoc struct {
	Title, Version, Description string
	Operations                  []apiOperation
	Schemas                     []apiSchema
}

type apiOperation struct {
	Method, Path, Summary, Description string
	Parameters                         []apiField
	Body                               []string
	Responses                          []apiField
	Secured                            bool
}

type apiField struct {
	Name, In, Type, Description string
	Required                    bool
}

type apiSchema struct {
	Name, Description string
	Fields            []apiField
}

// parseAPIDoc reads the parts of an OpenAPI document the page shows.
func parseAPIDoc(raw []byte) (*apiDoc, error) {
	var doc struct {
		Info struct {
			Title, Version, Description string
		}
		Paths      map[string]map[string]yaml.Node
		Components struct {
			Schemas   map[string]yaml.Node
			Responses map[string]struct{ Description string }
		}
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse openapi document: %w", err)
	}
	out := &apiDoc{Title: doc.Info.Title, Version: doc.Info.Version, Description: doc.Info.Description}
	for _, path := range sortedKeys(doc.Paths) {
		for _, method := range sortedKeys(doc.Paths[path]) {
			var op struct {
				Summary, Description string
				Security             []map[string][]string
				Parameters           []struct {
					Name, In, Description string
					Required              bool
					Schema                yaml.Node
				}
				RequestBody struct {
					Content map[string]struct{ Schema yaml.Node }
				} `yaml:"requestBody"`
				Responses map[string]struct {
					Ref         string `yaml:"$ref"`
					Description string
				}
			}
			node := doc.Paths[path][method]
			if err := node.Decode(&op); err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, path, err)
			}
			o := apiOperation{Method: strings.ToUpper(method), Path: path, Summary: op.Summary, Description: op.Description, Secured: len(op.Security) > 0}
			for _, p := range op.Parameters {
				o.Parameters = append(o.Parameters, apiField{Name: p.Name, In: p.In, Type: typeOf(&p.Schema), Description: p.Description, Required: p.Required})
			}
			for _, ct := range sortedKeys(op.RequestBody.Content) {
				schema := op.RequestBody.Content[ct].Schema
				o.Body = append(o.Body, ct+": "+typeOf(&schema))
			}
			for _, code := range sortedKeys(op.Responses) {
				r := op.Responses[code]
				desc := r.Description
				if name, ok := strings.CutPrefix(r.Ref, "#/components/responses/"); ok {
					desc = doc.Components.Responses[name].Description
				}
				o.Responses = append(o.Responses, apiField{Name: code, Description: desc})
			}
			out.Operations = append(out.Operations, o)
		}
	}
	for _, name := range sortedKeys(doc.Components.Schemas) {
		var s struct {
			Description string
			Required    []string
			Properties  map[string]yaml.Node
		}
		node := doc.Components.Schemas[name]
		if err := node.Decode(&s); err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		schema := apiSchema{Name: name, Description: s.Description}
		for _, prop := range sortedKeys(s.Properties) {
			var p struct{ Description string }
			node := s.Properties[prop]
			_ = node.Decode(&p)
			schema.Fields = append(schema.Fields, apiField{Name: prop, Type: typeOf(&node), Description: p.Description, Required: contains(s.Required, prop)})
		}
		out.Schemas = append(out.Schemas, schema)
	}
	return out, nil
}

// typeOf summarises a schema in a few words: a $ref's name, or its type and format.
func typeOf(node *yaml.Node) string {
	var s struct {
		Ref    string `yaml:"$ref"`
		Type   any
		Format string
		Enum   []any
		Const  any
		OneOf  []yaml.Node `yaml:"oneOf"`
		AllOf  []yaml.Node `yaml:"allOf"`
		Items  *yaml.Node
	}
	if node == nil || node.Decode(&s) != nil {
		return ""
	}
	switch {
	case s.Ref != "":
		return s.Ref[strings.LastIndex(s.Ref, "/")+1:]
	case len(s.OneOf) > 0 || len(s.AllOf) > 0:
		parts := []string{}
		for _, n := range append(s.OneOf, s.AllOf...) {
			parts = append(parts, typeOf(&n))
		}
		sep := " | "
		if len(s.AllOf) > 0 {
			sep = " & "
		}
		return strings.Join(parts, sep)
	case s.Const != nil:
		return fmt.Sprintf("%q", fmt.Sprint(s.Const))
	case len(s.Enum) > 0:
		return fmt.Sprint(s.Enum)
	case s.Items != nil:
		return "array of " + typeOf(s.Items)
	}
	t := fmt.Sprint(s.Type)
	if s.Type == nil {
		t = "any"
	}
	if s.Format != "" {
		t += " (" + s.Format + ")"
	}
	return t
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

var docsPage = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d2430}
h2{margin-top:2.5rem;border-bottom:1px solid #ccd}code,.path{font-family:ui-monospace,monospace}
section{border:1px solid #dde;border-radius:6px;padding:0 1rem 1rem;margin:1rem 0}
.method{display:inline-block;min-width:3.5rem;font-weight:700;color:#fff;background:#2f6fd0;border-radius:4px;text-align:center;padding:0 .4rem}
.method.GET{background:#238636}table{border-collapse:collapse;width:100%}td,th{text-align:left;border-top:1px solid #eef;padding:.25rem .5rem;vertical-align:top}
.req{color:#b3261e}pre{white-space:pre-wrap}
</style></head><body>
<h1>{{.Title}} <small>{{.Version}}</small></h1>
<p>The document itself: <a href="/openapi.yaml">/openapi.yaml</a>.</p>
<pre>{{.Description}}</pre>
<h2>Operations</h2>
{{range .Operations}}<section id="{{.Method}}{{.Path}}">
<h3><span class="method {{.Method}}">{{.Method}}</span> <span class="path">{{.Path}}</span></h3>
<p><strong>{{.Summary}}</strong>{{if .Secured}} — requires <code>Authorization: Bearer &lt;key&gt;</code> when an API key is configured{{end}}</p>
<pre>{{.Description}}</pre>
{{if .Parameters}}<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>description</th></tr>
{{range .Parameters}}<tr><td><code>{{.Name}}</code>{{if .Required}} <span class="req">required</span>{{end}}</td><td>{{.In}}</td><td>{{.Type}}</td><td>{{.Description}}</td></tr>
{{end}}</table>{{end}}
{{if .Body}}<h4>Body</h4><ul>{{range .Body}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
<h4>Responses</h4><table>{{range .Responses}}<tr><td><code>{{.Name}}</code></td><td>{{.Description}}</td></tr>{{end}}</table>
</section>
{{end}}
<h2>Schemas</h2>
{{range .Schemas}}<section id="schema-{{.Name}}"><h3>{{.Name}}</h3><pre>{{.Description}}</pre>
{{if .Fields}}<table><tr><th>field</th><th>type</th><th>description</th></tr>
{{range .Fields}}<tr><td><code>{{.Name}}</code>{{if .Required}} <span class="req">required</span>{{end}}</td><td>{{.Type}}</td><td>{{.Description}}</td></tr>
{{end}}</table>{{end}}</section>
{{end}}
</body></html>
`))

func (g *Gateway) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	if len(g.cfg.OpenAPI) == 0 {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(g.cfg.OpenAPI)
}

func (g *Gateway) serveDocs(w http.ResponseWriter, r *http.Request) {
	if g.docs == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := docsPage.Execute(w, g.docs); err != nil {
		g.log.Error("render docs", "err", err)
	}
}
