use super::*;

#[test]
fn fields_read_back_as_written_in_big_endian_order() {
    let mut w = Writer::with_capacity(64);
    w.bytes(&[1, 2])
        .u8(3)
        .u32(0x0405_0607)
        .u64(0x0809_0a0b_0c0d_0e0f);
    w.text8("jane")
        .expect("short")
        .text16("read write", 600)
        .expect("short");
    let record = w.into_inner();
    let mut expected = vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    expected.extend_from_slice(b"\x04jane\x00\x0aread write");
    assert_eq!(record, expected);
    let mut r = Reader::new(&record);
    assert_eq!(r.array::<2>(), Ok([1, 2]));
    assert_eq!(r.u8(), Ok(3));
    assert_eq!(r.u32(), Ok(0x0405_0607));
    assert_eq!(r.u64(), Ok(0x0809_0a0b_0c0d_0e0f));
    assert_eq!(r.text8().as_deref(), Ok("jane"));
    assert_eq!(r.text16(600).as_deref(), Ok("read write"));
    assert_eq!(r.finish(), Ok(()));
}

#[test]
fn text_longer_than_its_prefix_or_limit_is_not_written() {
    let mut w = Writer::default();
    assert_eq!(w.text8(&"u".repeat(256)).err(), Some(TooLong));
    assert_eq!(w.text16("scope", 4).err(), Some(TooLong));
    assert_eq!(
        w.text16(&"s".repeat(70_000), usize::MAX).err(),
        Some(TooLong)
    );
    assert_eq!(w.len(), 0, "nothing written by a refusal");
    w.text8(&"u".repeat(255)).expect("255 fits one byte");
    assert_eq!(w.len(), 256);
}

#[test]
fn a_short_record_trailing_bytes_bad_text_or_a_length_over_the_limit_are_malformed() {
    assert_eq!(Reader::new(&[0; 7]).u64(), Err(Malformed));
    assert_eq!(Reader::new(&[3, b'a', b'b']).text8(), Err(Malformed));
    assert_eq!(Reader::new(&[1, 0xff]).text8(), Err(Malformed));
    assert_eq!(
        Reader::new(&[0, 5, b'a', b'b', b'c', b'd', b'e']).text16(4),
        Err(Malformed)
    );
    let mut r = Reader::new(&[1, 2]);
    assert_eq!(r.u8(), Ok(1));
    assert_eq!(r.finish(), Err(Malformed));
}
