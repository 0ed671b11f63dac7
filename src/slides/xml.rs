//! XML image descriptions: the `Pixels` element of OME-XML and the Philips pixel spacing, read
//! with a streaming XML parser (`quick-xml`). Every byte is looked at a bounded number of
//! times, so a crafted description costs time in proportion to its length; comments, CDATA,
//! entities, character references and `>` inside attribute values mean what XML says.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};

/// Deepest element nesting followed in Philips XML.
const MAX_XML_DEPTH: usize = 256;

// Bytes a parse looked at: the reader's position plus every attribute list read again. For
// tests of the time a description costs.
#[cfg(test)]
thread_local! {
    static WORK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn count(bytes: usize) {
    #[cfg(test)]
    WORK.with(|w| w.set(w.get() + bytes as u64));
    #[cfg(not(test))]
    let _ = bytes;
}

/// A reader that tolerates mismatched end tags (descriptions are written by scanners, not
/// validated), over `xml`.
fn reader(xml: &str) -> Reader<&[u8]> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = false;
    reader
}

/// The next event, counting the bytes the reader moved past.
fn next<'a>(reader: &mut Reader<&'a [u8]>, last: &mut usize) -> quick_xml::Result<Event<'a>> {
    let event = reader.read_event();
    let at = reader.buffer_position() as usize;
    count(at.saturating_sub(*last));
    *last = at;
    event
}

/// The unescaped value of attribute `name` (matched by local name) of a start tag.
fn attribute<'a>(tag: &'a BytesStart<'_>, name: &str) -> Option<Cow<'a, str>> {
    count(tag.attributes_raw().len());
    tag.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name.as_bytes())
        .and_then(|a| a.unescape_value().ok())
}

/// The text a reference stands for: a character reference or one of XML's five entities.
fn reference(r: &BytesRef<'_>) -> Option<String> {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return Some(c.to_string());
    }
    let name = r.decode().ok()?;
    resolve_predefined_entity(&name).map(str::to_string)
}

/// OME-XML: `None` when the description is not OME-XML; else the microns per pixel from the
/// first `Pixels` element's `PhysicalSizeX` and `PhysicalSizeXUnit` (default µm), or why
/// there is none.
pub(crate) fn ome_pixels(description: &str) -> Option<Result<f64, String>> {
    if !description.trim_start().starts_with('<') {
        return None;
    }
    let mut reader = reader(description);
    let (mut ome, mut last) = (false, 0usize);
    loop {
        let tag = match next(&mut reader, &mut last) {
            Ok(Event::Start(tag) | Event::Empty(tag)) => tag,
            Ok(Event::Eof) => break,
            Ok(_) => continue,
            Err(e) => return ome.then(|| Err(format!("the OME-XML is malformed: {e}"))),
        };
        match tag.local_name().as_ref() {
            b"OME" => ome = true,
            b"Pixels" if ome => return Some(physical_size(&tag)),
            _ => {}
        }
    }
    ome.then(|| Err("the OME-XML has no Pixels element".into()))
}

/// Microns per pixel from a `Pixels` element.
fn physical_size(pixels: &BytesStart<'_>) -> Result<f64, String> {
    let Some(size) = attribute(pixels, "PhysicalSizeX") else {
        return Err("the OME-XML Pixels element has no PhysicalSizeX".into());
    };
    let Ok(value) = size.trim().parse::<f64>() else {
        return Err(format!("OME PhysicalSizeX {size:?} is not a number"));
    };
    let unit = attribute(pixels, "PhysicalSizeXUnit").unwrap_or(Cow::Borrowed("µm"));
    let Some(factor) = micrometres_per(&unit) else {
        return Err(format!(
            "OME PhysicalSizeXUnit {unit:?} is not a length unit"
        ));
    };
    let mpp = value * factor;
    if mpp > 0.0 && mpp.is_finite() {
        Ok(mpp)
    } else {
        Err(format!(
            "OME PhysicalSizeX {value} {unit} is not a positive length"
        ))
    }
}

/// Micrometres in one `unit` (the OME UnitsLength symbols of plausible pixel sizes), after
/// references are resolved: the micro sign U+00B5 and the Greek mu U+03BC alike.
fn micrometres_per(unit: &str) -> Option<f64> {
    Some(match unit.trim() {
        "\u{b5}m" | "\u{3bc}m" | "um" => 1.0,
        "nm" => 1e-3,
        "pm" => 1e-6,
        "\u{c5}" | "\u{212b}" => 1e-4,
        "mm" => 1e3,
        "cm" => 1e4,
        "m" => 1e6,
        _ => return None,
    })
}

/// An open element while reading Philips XML.
struct Open {
    data_object: bool,
    attribute: bool,
    object_type: Option<String>,
    attribute_name: Option<String>,
    text: String,
    image_type: Option<String>,
    spacing: Option<(f64, f64)>,
}

/// Longest text of one Philips attribute kept (a pixel spacing is a few dozen bytes).
const MAX_ATTRIBUTE_TEXT: usize = 4096;

/// Philips: `DICOM_PIXEL_SPACING` (row, column spacing in mm) given directly on the WSI
/// `DPScannedImage` (else on the `DPUfsImport` root), as OpenSlide reads it. The spacings of
/// the pixel data representations nested deeper (one per level) do not count.
pub(crate) fn philips_pixel_spacing(xml: &str) -> Option<(f64, f64)> {
    let mut stack: Vec<Open> = Vec::new();
    let (mut wsi, mut root) = (None, None);
    let mut reader = reader(xml);
    let mut last = 0usize;
    loop {
        let event = next(&mut reader, &mut last);
        let in_attribute = stack.last().is_some_and(|o| o.attribute);
        match event {
            Ok(Event::Start(tag)) => {
                if stack.len() >= MAX_XML_DEPTH {
                    return None;
                }
                let name = tag.local_name();
                let data_object = name.as_ref() == b"DataObject";
                let is_attribute = name.as_ref() == b"Attribute";
                stack.push(Open {
                    data_object,
                    attribute: is_attribute,
                    object_type: data_object
                        .then(|| attribute(&tag, "ObjectType").map(Cow::into_owned))
                        .flatten(),
                    attribute_name: is_attribute
                        .then(|| attribute(&tag, "Name").map(Cow::into_owned))
                        .flatten(),
                    text: String::new(),
                    image_type: None,
                    spacing: None,
                });
            }
            Ok(Event::Text(text)) if in_attribute => {
                push_text(&mut stack, &text.xml_content().unwrap_or_default())
            }
            Ok(Event::CData(text)) if in_attribute => {
                push_text(&mut stack, &String::from_utf8_lossy(&text))
            }
            Ok(Event::GeneralRef(r)) if in_attribute => {
                if let Some(t) = reference(&r) {
                    push_text(&mut stack, &t);
                }
            }
            Ok(Event::End(_)) => {
                let Some(closed) = stack.pop() else { continue };
                if closed.attribute {
                    if let Some(parent) = stack.last_mut().filter(|p| p.data_object) {
                        match closed.attribute_name.as_deref() {
                            Some("DICOM_PIXEL_SPACING") if !closed.text.trim().is_empty() => {
                                parent.spacing = parse_spacing(&closed.text)
                            }
                            Some("PIM_DP_IMAGE_TYPE") if !closed.text.trim().is_empty() => {
                                parent.image_type = Some(closed.text.trim().to_string())
                            }
                            _ => {}
                        }
                    }
                    continue;
                }
                match closed.object_type.as_deref().filter(|_| closed.data_object) {
                    Some("DPScannedImage") if closed.image_type.as_deref() == Some("WSI") => {
                        wsi = wsi.or(closed.spacing)
                    }
                    Some("DPUfsImport") => root = root.or(closed.spacing),
                    _ => {}
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    wsi.or(root)
}

/// Adds text to the open attribute, up to [`MAX_ATTRIBUTE_TEXT`].
fn push_text(stack: &mut [Open], text: &str) {
    if let Some(top) = stack.last_mut()
        && top.text.len() + text.len() <= MAX_ATTRIBUTE_TEXT
    {
        top.text.push_str(text);
    }
}

/// `"0.000227" "0.000227"`: two quoted numbers (references already resolved).
fn parse_spacing(text: &str) -> Option<(f64, f64)> {
    let mut values = text
        .split_whitespace()
        .map(|v| v.trim_matches('"').parse::<f64>());
    match (values.next(), values.next()) {
        (Some(Ok(row)), Some(Ok(column))) => Some((row, column)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves OME PhysicalSizeX is read with its unit, namespaced or not. (FR-60)
    #[test]
    fn ome_units() {
        let xml = r#"<?xml version="1.0"?><OME xmlns="x"><Image ID="Image:0"><Pixels ID="Pixels:0" SizeX="10" PhysicalSizeX="250" PhysicalSizeXUnit="nm"/></Image></OME>"#;
        assert_eq!(ome_pixels(xml), Some(Ok(0.25)));
        let xml =
            r#"<ome:OME xmlns:ome="x"><ome:Pixels PhysicalSizeX='0.5'></ome:Pixels></ome:OME>"#;
        assert_eq!(ome_pixels(xml), Some(Ok(0.5)));
        assert!(matches!(
            ome_pixels("<OME><Pixels SizeX=\"1\"/></OME>"),
            Some(Err(_))
        ));
        assert_eq!(ome_pixels("Aperio Image Library|MPP = 0.25"), None);
    }

    // Proves the Philips spacing is taken from the DICOM_PIXEL_SPACING attribute only. (FR-60)
    #[test]
    fn philips_spacing() {
        let xml = r#"<DataObject ObjectType="DPUfsImport"><Attribute Name="DICOM_PIXEL_SPACING_X" PMSVR="IString">"9"</Attribute><Attribute Name="DICOM_PIXEL_SPACING" Group="0x0028" PMSVR="IDoubleArray">"0.000226" "0.000227"</Attribute></DataObject>"#;
        assert_eq!(philips_pixel_spacing(xml), Some((0.000226, 0.000227)));
        // Only a level's spacing, nested in the pixel data representations: none.
        let xml = r#"<DataObject ObjectType="DPUfsImport"><Attribute Name="PIM_DP_SCANNED_IMAGES"><Array><DataObject ObjectType="DPScannedImage"><Attribute Name="PIM_DP_IMAGE_TYPE">WSI</Attribute><Attribute Name="PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE"><Array><DataObject ObjectType="PixelDataRepresentation"><Attribute Name="DICOM_PIXEL_SPACING">&quot;0.1&quot; &quot;0.1&quot;</Attribute></DataObject></Array></Attribute></DataObject></Array></Attribute></DataObject>"#;
        assert_eq!(philips_pixel_spacing(xml), None);
        let wsi = xml.replace(
            "<Attribute Name=\"PIM_DP_IMAGE_TYPE\">WSI</Attribute>",
            "<Attribute Name=\"PIM_DP_IMAGE_TYPE\">WSI</Attribute><Attribute Name=\"DICOM_PIXEL_SPACING\">&quot;0.0002&quot; &quot;0.0003&quot;</Attribute>",
        );
        assert_eq!(philips_pixel_spacing(&wsi), Some((0.0002, 0.0003)));
        assert_eq!(philips_pixel_spacing("<DataObject/>"), None);
    }

    fn work<T>(f: impl FnOnce() -> T) -> (T, u64) {
        WORK.with(|w| w.set(0));
        let out = f();
        (out, WORK.with(|w| w.get()))
    }

    // Proves the micro sign is read however it is written (U+00B5, U+03BC, decimal or hex
    // references in either case), `&#34;` and `&quot;` are quotes in a Philips spacing,
    // `<Pixels` inside a comment or CDATA is no element, and a `>` inside an attribute value
    // does not end the tag. (FR-60, NFR-30)
    #[test]
    fn xml_is_read_as_xml() {
        for unit in [
            "µm", "μm", "&#181;m", "&#xB5;m", "&#xb5;m", "&#956;m", "&#x3BC;m", "um",
        ] {
            let xml =
                format!(r#"<OME><Pixels PhysicalSizeX="0.5" PhysicalSizeXUnit="{unit}"/></OME>"#);
            assert_eq!(ome_pixels(&xml), Some(Ok(0.5)), "{unit}");
        }
        let xml = r#"<OME><!-- <Pixels PhysicalSizeX="9"/> --><![CDATA[<Pixels PhysicalSizeX="8"/>]]><Pixels Name="a>b" PhysicalSizeX="0.25"/></OME>"#;
        assert_eq!(ome_pixels(xml), Some(Ok(0.25)));
        let xml = r#"<DataObject ObjectType="DPUfsImport"><Attribute Name="DICOM_PIXEL_SPACING">&#34;0.00025&#34; &#34;0.00026&#34;</Attribute></DataObject>"#;
        assert_eq!(philips_pixel_spacing(xml), Some((0.00025, 0.00026)));
        // References inside the numbers resolve too.
        let xml = r#"<DataObject ObjectType="DPUfsImport"><Attribute Name="DICOM_PIXEL_SPACING">&quot;&#48;.00025&quot; &quot;0.0002&#x36;&quot;</Attribute></DataObject>"#;
        assert_eq!(philips_pixel_spacing(xml), Some((0.00025, 0.00026)));
        let xml = r#"<DataObject ObjectType="DPUfsImport"><!-- <Attribute Name="DICOM_PIXEL_SPACING">"1" "1"</Attribute> --><Attribute Name="X>Y">1</Attribute></DataObject>"#;
        assert_eq!(philips_pixel_spacing(xml), None);
        assert_eq!(
            ome_pixels("<OME><Pixels PhysicalSizeX=\"1e308\" PhysicalSizeXUnit=\"m\"/></OME>")
                .map(|r| r.is_err()),
            Some(true)
        );
    }

    // Proves a description costs work in proportion to its length, for the inputs that made
    // a scan back to the last `<` quadratic (prefixed names without a tag) and for deep or
    // wide documents: the bytes looked at stay within a small multiple of the input, and
    // doubling the input doubles the work. (NFR-16)
    #[test]
    fn work_is_linear_in_the_length() {
        let shapes: [fn(usize) -> String; 4] = [
            |n| format!("<OME>{}</OME>", "a:Pixels ".repeat(n)),
            |n| format!("<OME {}>", "x:OME=\"1\" ".repeat(n)),
            |n| {
                format!(
                    "<DataObject ObjectType=\"DPUfsImport\">{}",
                    "<Attribute Name=\"DICOM_PIXEL_SPACING\">".repeat(n)
                )
            },
            |n| {
                format!(
                    "<OME>{}",
                    "<!--<Pixels--><x:Pixels PhysicalSizeX=\"a\"/>".repeat(n)
                )
            },
        ];
        for shape in shapes {
            let small = shape(4_000);
            let large = shape(8_000);
            let (_, w_small) = work(|| (ome_pixels(&small), philips_pixel_spacing(&small)));
            let (_, w_large) = work(|| (ome_pixels(&large), philips_pixel_spacing(&large)));
            assert!(
                w_large <= 4 * large.len() as u64,
                "{w_large} for {}",
                large.len()
            );
            assert!(w_large <= 3 * w_small, "{w_small} then {w_large}");
            // Every byte is looked at (the counter counts).
            assert!(
                w_large >= large.len() as u64,
                "{w_large} for {}",
                large.len()
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        // Proves any text, XML-like or not, is read without a panic and with work bounded by
        // a small multiple of its length. (NFR-13, NFR-16)
        #[test]
        fn any_description_is_read_in_linear_work(text in "(<|>|/|=|\"|'|&|#|;|:|!|\\[|\\]|-|\\?|OME|Pixels|DataObject|Attribute|PhysicalSizeX|CDATA|x| ){0,200}") {
            let (_, w) = work(|| (ome_pixels(&text), philips_pixel_spacing(&text)));
            proptest::prop_assert!(w <= 4 * text.len() as u64 + 16, "{} for {}", w, text.len());
        }
    }
}
