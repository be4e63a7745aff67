//! stdcopy framing: each chunk of a non-TTY stream is prefixed by 8 bytes:
//! `[stream, 0, 0, 0, size (u32 big-endian)]`, stream 0 stdin, 1 stdout, 2 stderr, 3 system.

pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const SYSTEM: u8 = 3;

pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    frame_into(&mut out, stream, data);
    out
}

/// [`frame`], appended to `out`.
pub fn frame_into(out: &mut Vec<u8>, stream: u8, data: &[u8]) {
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_stream_then_big_endian_size() {
        assert_eq!(
            frame(STDERR, b"hi"),
            vec![2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']
        );
        let big = vec![0u8; 0x1_0203];
        assert_eq!(&frame(STDOUT, &big)[..8], &[1, 0, 0, 0, 0, 1, 2, 3]);
    }
}
