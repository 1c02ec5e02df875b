// Package pqcheck reads Parquet files with Apache Arrow's Go implementation
// (pqarrow): a second, independent reader, so tacap's files are checked the
// way notebooks will open them, not by the library that wrote them.
package pqcheck

import (
	"context"
	"fmt"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// File is what a Parquet file holds, as Arrow sees it.
type File struct {
	Schema   *arrow.Schema
	Rows     int64
	Metadata map[string]string // the file's key-value metadata
	Table    arrow.Table       // the whole content (caller releases)
}

// Read opens path and reads every column.
func Read(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rdr, err := file.NewParquetReader(f)
	if err != nil {
		return nil, fmt.Errorf("arrow-go cannot open %s: %w", path, err)
	}
	defer rdr.Close()
	md := map[string]string{}
	kv := rdr.MetaData().KeyValueMetadata()
	for i, k := range kv.Keys() {
		md[k] = kv.Values()[i]
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return nil, err
	}
	schema, err := fr.Schema()
	if err != nil {
		return nil, err
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		return nil, fmt.Errorf("arrow-go cannot read %s: %w", path, err)
	}
	return &File{Schema: schema, Rows: tbl.NumRows(), Metadata: md, Table: tbl}, nil
}

// Field is a column name and its Arrow type, as text (e.g. "timestamp[us, tz=UTC]").
type Field struct{ Name, Type string }

// Fields lists the schema's columns in order.
func (f *File) Fields() []Field {
	out := make([]Field, 0, f.Schema.NumFields())
	for _, fl := range f.Schema.Fields() {
		out = append(out, Field{fl.Name, fl.Type.String()})
	}
	return out
}
