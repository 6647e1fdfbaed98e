// Package appfile reads app files, the YAML form of the catalog's apps
// (internal/catalog/apps/*.yaml). The functions do not use it: they load
// the catalog from its JSON snapshot (catalog.Load), so no bootstrap links
// a YAML parser. `make catalog` writes that snapshot through this package,
// and tests use it to parse app files of their own.
package appfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"go.yaml.in/yaml/v3"

	"wiresk/internal/catalog"
)

// MaxBytes bounds an app file.
const MaxBytes = 256 << 10

// Parse parses and validates one app file. name is the file's name, like
// "gmail.yaml": it gives the app's id and prefixes every error, which also
// names the field at fault ("gmail.yaml: oauth.token_url: ...").
func Parse(name string, data []byte) (*catalog.App, error) {
	app, err := Decode(name, data)
	if err != nil {
		return nil, err
	}
	return catalog.Finish(name, app)
}

// Decode decodes an app file, strictly (unknown keys are errors), without
// validating it: catalog.Finish checks it, its name included.
func Decode(name string, data []byte) (*catalog.App, error) {
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%s: the file is %d bytes long; the limit is %d", name, len(data), MaxBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	app := &catalog.App{}
	if err := dec.Decode(app); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the file is empty", name)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: the file must hold exactly one YAML document", name)
	}
	return app, nil
}

// DecodeFS decodes the *.yaml files at the root of fsys, by file name,
// without validating them; it reports every file it cannot decode.
func DecodeFS(fsys fs.FS) (map[string]*catalog.App, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("catalog: no app files")
	}
	files := make(map[string]*catalog.App, len(names))
	var errs []error
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		app, err := Decode(name, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files[name] = app
	}
	if err := errors.Join(errs...); err != nil {
		return files, fmt.Errorf("catalog: %w", err)
	}
	return files, nil
}

// LoadFS is catalog.Load over the *.yaml files at the root of fsys: every
// file that cannot be decoded or is not valid is reported.
func LoadFS(fsys fs.FS, opts ...catalog.Option) (*catalog.Catalog, error) {
	files, decodeErr := DecodeFS(fsys)
	if files == nil {
		return nil, decodeErr
	}
	c, err := catalog.FromFiles(files, opts...)
	if err := errors.Join(decodeErr, err); err != nil {
		return nil, err
	}
	return c, nil
}
