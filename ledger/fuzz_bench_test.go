package ledger

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/identity"
)

func FuzzDecodeEntry(f *testing.F) {
	id, err := identity.Generate()
	require.NoError(f, err)
	fd := NewFeed(id)
	for i := 0; i < 3; i++ {
		e, err := fd.Append(TypeDIDRegistration, payload(i), t0)
		require.NoError(f, err)
		b, err := EncodeEntry(e)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x98})
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEntry(b)
		if err != nil {
			require.Nil(t, e)
			return
		}
		// Whatever decodes is canonical: it re-encodes to the input.
		re, err := EncodeEntry(e)
		require.NoError(t, err)
		require.True(t, bytes.Equal(re, b))
		// Verification and application never panic.
		_, _, _ = e.Verify()
		_, _ = New().Apply(e)
	})
}

func BenchmarkAppend(b *testing.B) {
	id, err := identity.Generate()
	require.NoError(b, err)
	f := NewFeed(id)
	p := []byte(`{"credential":"` + string(bytes.Repeat([]byte("x"), 512)) + `"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := f.Append(TypeCredential, p, t0+crdt.Timestamp(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

func BenchmarkApply(b *testing.B) {
	id, err := identity.Generate()
	require.NoError(b, err)
	const n = 4096
	f := NewFeed(id)
	p := []byte(`{"credential":"` + string(bytes.Repeat([]byte("x"), 512)) + `"}`)
	es := make([]*Entry, n)
	for i := range es {
		es[i], err = f.Append(TypeCredential, p, t0+crdt.Timestamp(i))
		require.NoError(b, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var l *Ledger
	for i := 0; b.Loop(); i++ {
		if i%n == 0 {
			b.StopTimer()
			l = New()
			b.StartTimer()
		}
		if _, err := l.Apply(es[i%n]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
