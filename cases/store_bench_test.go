package cases_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hotline-12345/hotline/cases"
	"github.com/hotline-12345/hotline/cases/storetest"
)

func benchCreate(b *testing.B, s cases.Store) {
	b.ReportAllocs()
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		_, err := s.Create(ctx, cases.NewCase{Channel: cases.ChannelPhone, CallerNumber: fmt.Sprintf("1580000%04d", i%10000),
			DialledNumber: "12345", Category: "0201", Location: "文三路 1 号", Description: "夜间施工噪音扰民"}, cases.SystemActor)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreatePostgres(b *testing.B) {
	s, err := cases.OpenPostgres(context.Background(), storetest.NewDatabase(b), cases.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchCreate(b, s)
}

func BenchmarkCreateSQLite(b *testing.B) {
	s, err := cases.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "db"), cases.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchCreate(b, s)
}
