package drsr

import (
	"crypto/md5"
	"crypto/rc4"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// saltLen is the length of the random salt that starts an ENCRYPTED_PAYLOAD
// (MS-DRSR ENCRYPTED_PAYLOAD: Salt[16], CheckSum, EncryptedData).
const saltLen = 16

// DecryptSecret decrypts a secret attribute value of a DRSGetNCChanges reply
// (MS-DRSR 4.1.10.6.12 "DecryptValuesIfNecessary"): the value is a 16-byte
// salt followed by RC4(MD5(sessionKey ‖ salt), CRC32(plaintext) ‖
// plaintext). The CRC32 is checked: a wrong session key or a damaged value
// fails with ErrBadReply, never yields garbage.
func DecryptSecret(sessionKey, value []byte) ([]byte, error) {
	if len(sessionKey) == 0 {
		return nil, fmt.Errorf("%w: no session key to decrypt the secret with", ErrBadReply)
	}
	if len(value) < saltLen+4 {
		return nil, fmt.Errorf("%w: encrypted secret is %d bytes, need at least %d", ErrBadReply, len(value), saltLen+4)
	}
	h := md5.New()
	h.Write(sessionKey)
	h.Write(value[:saltLen])
	c, err := rc4.NewCipher(h.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	plain := make([]byte, len(value)-saltLen)
	c.XORKeyStream(plain, value[saltLen:])
	want := binary.LittleEndian.Uint32(plain[:4])
	data := plain[4:]
	if crc32.ChecksumIEEE(data) != want {
		clear(plain)
		return nil, fmt.Errorf("%w: checksum of the decrypted secret does not match (wrong session key or damaged reply)", ErrBadReply)
	}
	return data, nil
}

// encryptSecret is the inverse of DecryptSecret with a given salt; tests and
// fuzz seeds use it.
func encryptSecret(sessionKey, salt, data []byte) []byte {
	h := md5.New()
	h.Write(sessionKey)
	h.Write(salt)
	c, _ := rc4.NewCipher(h.Sum(nil))
	plain := binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(data))
	plain = append(plain, data...)
	out := append([]byte(nil), salt...)
	enc := make([]byte, len(plain))
	c.XORKeyStream(enc, plain)
	return append(out, enc...)
}
