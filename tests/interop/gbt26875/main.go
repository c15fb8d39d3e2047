// Interop harness for issue 20 point 5: runs github.com/shootingfans/codec_gb26875_3_2011, an
// independent public GB/T 26875.3-2011 codec, over frames Watchfire sends and builds frames for
// Watchfire's tests with that codec's encoder. Only this harness is ours; the codec is fetched by
// run.sh and never committed. Lines in, lines out:
//   decode: each stdin line is a frame in hex → one JSON line: the codec's Packet or its error
//   encode: each stdin line is JSON {serial,version,timestamp,source,target,action,appData(hex)} → hex
package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/shootingfans/codec_gb26875_3_2011/codec"
	"github.com/shootingfans/codec_gb26875_3_2011/constant"
)

type encodeIn struct {
	Serial    uint16 `json:"serial"`
	Version   uint16 `json:"version"`
	Timestamp int64  `json:"timestamp"`
	Source    uint64 `json:"source"`
	Target    uint64 `json:"target"`
	Action    uint8  `json:"action"`
	AppData   string `json:"appData"`
}

type decodeOut struct {
	Error  string            `json:"error,omitempty"`
	Length int               `json:"length"`
	Packet *constant.Packet  `json:"packet,omitempty"`
	Header map[string]uint64 `json:"header,omitempty"`
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		line := in.Text()
		switch os.Args[1] {
		case "decode":
			b, err := hex.DecodeString(line)
			if err != nil {
				_ = out.Encode(decodeOut{Error: err.Error()})
				continue
			}
			p, n, err := codec.Decode(b)
			o := decodeOut{Length: n, Packet: p}
			if err != nil {
				o.Error = err.Error()
			}
			if p != nil {
				o.Header = map[string]uint64{"serial": uint64(p.Header.SerialId), "version": uint64(p.Header.Version), "timestamp": uint64(p.Header.Timestamp), "source": p.Header.Source, "target": p.Header.Target}
			}
			_ = out.Encode(o)
		case "encode":
			var e encodeIn
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				fmt.Println("error:", err)
				continue
			}
			data, _ := hex.DecodeString(e.AppData)
			b, _ := codec.Encode(&constant.Packet{
				Header:  constant.Header{SerialId: e.Serial, Version: constant.Version(e.Version), Timestamp: e.Timestamp, Source: e.Source, Target: e.Target},
				Action:  constant.Action(e.Action),
				AppData: data,
			})
			fmt.Println(hex.EncodeToString(b))
		}
	}
}
