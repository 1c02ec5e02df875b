// Package pqcheck reads Parquet files with Apache Arrow's Go implementation
// (pqarrow): a second, independent reader, so tacap's files are checked the
// way notebooks will open them, not by the library that wrote them.
package pqcheck

import (
	"context"
	"fmt"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
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

// Fields lists the schema's columns in order as "name type", the type as
// Arrow prints it (e.g. "ts timestamp[us, tz=UTC]").
func (f *File) Fields() []string {
	out := make([]string, 0, f.Schema.NumFields())
	for _, fl := range f.Schema.Fields() {
		out = append(out, fl.Name+" "+fl.Type.String())
	}
	return out
}

// Int64 returns an integer or timestamp column as int64s.
func (f *File) Int64(name string) ([]int64, error) {
	col, err := f.column(name)
	if err != nil {
		return nil, err
	}
	out := make([]int64, 0, f.Rows)
	for _, chunk := range col.Data().Chunks() {
		switch a := chunk.(type) {
		case *array.Int32:
			for i := 0; i < a.Len(); i++ {
				out = append(out, int64(a.Value(i)))
			}
		case *array.Int64:
			out = append(out, a.Int64Values()...)
		case *array.Timestamp:
			for i := 0; i < a.Len(); i++ {
				out = append(out, int64(a.Value(i)))
			}
		default:
			return nil, fmt.Errorf("column %s is %s, not an integer", name, chunk.DataType())
		}
	}
	return out, nil
}

// NullableInt64 returns an INT64 column and which of its rows are null.
func (f *File) NullableInt64(name string) ([]int64, []bool, error) {
	col, err := f.column(name)
	if err != nil {
		return nil, nil, err
	}
	var out []int64
	var null []bool
	for _, chunk := range col.Data().Chunks() {
		a, ok := chunk.(*array.Int64)
		if !ok {
			return nil, nil, fmt.Errorf("column %s is %s, not int64", name, chunk.DataType())
		}
		for i := 0; i < a.Len(); i++ {
			out = append(out, a.Value(i))
			null = append(null, a.IsNull(i))
		}
	}
	return out, null, nil
}

// Strings returns a string column.
func (f *File) Strings(name string) ([]string, error) {
	col, err := f.column(name)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, f.Rows)
	for _, chunk := range col.Data().Chunks() {
		a, ok := chunk.(*array.String)
		if !ok {
			return nil, fmt.Errorf("column %s is %s, not a string", name, chunk.DataType())
		}
		for i := 0; i < a.Len(); i++ {
			out = append(out, a.Value(i))
		}
	}
	return out, nil
}

func (f *File) column(name string) (arrow.Column, error) {
	idx := f.Schema.FieldIndices(name)
	if len(idx) != 1 {
		return arrow.Column{}, fmt.Errorf("no column %s", name)
	}
	return *f.Table.Column(idx[0]), nil
}

// RowGroups counts the row groups of the Parquet file at path.
func RowGroups(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	rdr, err := file.NewParquetReader(f)
	if err != nil {
		return 0, fmt.Errorf("arrow-go cannot open %s: %w", path, err)
	}
	defer rdr.Close()
	return rdr.NumRowGroups(), nil
}
