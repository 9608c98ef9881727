package main

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/quotaledger/ledger/clients/go/codec"
)

// How long a raw step waits for an answer, and for the server to close the connection.
const rawTimeout = 10 * time.Second

// rawStep writes bytes the client would never send on a socket of its own and checks the server's answer.
func (r *runner) rawStep(st map[string]json.RawMessage) string {
	if err := only(st, "raw", "expect"); err != nil {
		return err.Error()
	}
	var raw struct {
		Hex        string `json:"hex"`
		AfterHello bool   `json:"afterHello"`
	}
	if err := strict(st["raw"], &raw); err != nil {
		return "raw: " + err.Error()
	}
	bytes, err := hex.DecodeString(strings.Join(strings.Fields(raw.Hex), ""))
	if err != nil {
		return "raw: hex: " + err.Error()
	}
	var expect struct {
		Code          string `json:"code"`
		CorrelationID *int64 `json:"correlationId"`
		Closed        bool   `json:"closed"`
	}
	if err := strict(st["expect"], &expect); err != nil {
		return "expect: " + err.Error()
	}
	if expect.Code == "" && !expect.Closed {
		return "expect: a raw step checks code, closed or both"
	}

	conn, err := net.DialTimeout("tcp", r.env.addr, rawTimeout)
	if err != nil {
		return "raw: " + err.Error()
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(rawTimeout))
	if raw.AfterHello {
		if what := r.rawHello(conn); what != "" {
			return what
		}
	}
	if _, err := conn.Write(bytes); err != nil {
		return "raw: writing: " + err.Error()
	}
	if expect.Code != "" {
		msg, err := readMessage(conn)
		if err != nil {
			return "no answer: " + describeEnd(err)
		}
		code, corr, err := codeOf(msg)
		if err != nil {
			return err.Error()
		}
		var diffs []string
		if code != expect.Code {
			diffs = append(diffs, fmt.Sprintf("code: expected %s, got %s", expect.Code, code))
		}
		if expect.CorrelationID != nil && corr != *expect.CorrelationID {
			diffs = append(diffs, fmt.Sprintf("correlationId: expected %d, got %d", *expect.CorrelationID, corr))
		}
		if len(diffs) > 0 {
			return strings.Join(diffs, "; ")
		}
	}
	if expect.Closed {
		_ = conn.SetDeadline(time.Now().Add(rawTimeout))
		if _, err := io.Copy(io.Discard, conn); err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Sprintf("closed: expected the server to close the connection within %s", rawTimeout)
		}
	}
	return ""
}

// rawHello authenticates the raw socket with the scenario's key, as a version-2 client.
func (r *runner) rawHello(conn net.Conn) string {
	key := r.env.adminKey
	if r.s.ConnectAs == "gateway" {
		key = r.env.gatewayKey
	}
	frame := make([]byte, 4+codec.MessageHeaderEncodedLength+uint64(codec.HelloSbeBlockLength)+2+uint64(len(key)))
	var hello codec.Hello
	hello.WrapAndApplyHeader(frame, 4, uint64(len(frame))).SetCorrelationId(0).
		SetClientVersion(codec.HelloSbeSchemaVersion).PutApiKey(key)
	binary.LittleEndian.PutUint32(frame, uint32(len(frame)-4))
	if _, err := conn.Write(frame); err != nil {
		return "raw: Hello: " + err.Error()
	}
	msg, err := readMessage(conn)
	if err != nil {
		return "raw: no answer to Hello: " + describeEnd(err)
	}
	if code, _, err := codeOf(msg); err != nil || code != "OK" {
		return fmt.Sprintf("raw: Hello as %s: %v", r.s.ConnectAs, orText(err, code))
	}
	return ""
}

func orText(err error, code string) string {
	if err != nil {
		return err.Error()
	}
	return code
}

// readMessage reads one frame and returns its message (after the length prefix).
func readMessage(conn net.Conn) ([]byte, error) {
	var prefix [4]byte
	if _, err := io.ReadFull(conn, prefix[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(prefix[:])
	if n > 1<<16 {
		return nil, fmt.Errorf("a frame of %d bytes", n)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(conn, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// codeOf reads the result code and correlation id of a Result, HelloResult or SnapshotResult.
func codeOf(msg []byte) (string, int64, error) {
	if len(msg) < int(codec.MessageHeaderEncodedLength) {
		return "", 0, fmt.Errorf("an answer of %d bytes", len(msg))
	}
	var header codec.MessageHeader
	header.Wrap(msg, 0, uint64(codec.ResultSbeSchemaVersion), uint64(len(msg)))
	block := uint64(header.BlockLength())
	version := uint64(header.Version())
	template := header.TemplateId()
	short := fmt.Errorf("answer template %d of block %d in a frame of %d bytes", template, block, len(msg))
	if codec.MessageHeaderEncodedLength+block > uint64(len(msg)) {
		return "", 0, short
	}
	var raw uint8
	var corr int64
	switch template {
	case codec.ResultSbeTemplateID:
		var m codec.Result
		if block < uint64(m.CodeEncodingOffset())+1 {
			return "", 0, short
		}
		m.WrapForDecode(msg, codec.MessageHeaderEncodedLength, block, version, uint64(len(msg)))
		raw, corr = m.CodeRaw(), m.CorrelationId()
	case codec.HelloResultSbeTemplateID:
		var m codec.HelloResult
		if block < uint64(m.CodeEncodingOffset())+1 {
			return "", 0, short
		}
		m.WrapForDecode(msg, codec.MessageHeaderEncodedLength, block, version, uint64(len(msg)))
		raw, corr = m.CodeRaw(), m.CorrelationId()
	case codec.SnapshotResultSbeTemplateID:
		var m codec.SnapshotResult
		if block < uint64(m.CodeEncodingOffset())+1 {
			return "", 0, short
		}
		m.WrapForDecode(msg, codec.MessageHeaderEncodedLength, block, version, uint64(len(msg)))
		raw, corr = m.CodeRaw(), m.CorrelationId()
	default:
		return "", 0, fmt.Errorf("an answer of template %d", template)
	}
	code, err := codec.LookupResultCode(raw)
	if err != nil {
		return fmt.Sprintf("CODE_%d", raw), corr, nil
	}
	return code.String(), corr, nil
}

func describeEnd(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the server closed the connection first"
	}
	return err.Error()
}
