//! Just enough XML for slide descriptions: the attributes of one element (OME-XML `Pixels`)
//! and the text of one Philips attribute. No entity or namespace processing beyond what
//! these values need.

/// The start tag `<name ...>` or `<prefix:name ...>` of the first element called `name`: the
/// text between the name and the closing `>`.
fn start_tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(found) = xml[from..].find(name) {
        let at = from + found;
        let before = xml[..at].chars().next_back();
        let after = xml[at + name.len()..].chars().next();
        let opens = match before {
            Some('<') => true,
            Some(':') => xml[..at].rfind('<').is_some_and(|lt| {
                xml[lt + 1..at - 1]
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
            }),
            _ => false,
        };
        if opens && after.is_some_and(|c| c.is_whitespace() || c == '>' || c == '/') {
            let rest = &xml[at + name.len()..];
            let end = rest.find('>')?;
            return Some(&rest[..end]);
        }
        from = at + name.len();
    }
    None
}

/// The value of attribute `name` in a start tag's text (single or double quotes).
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = tag;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        let eq = rest.find('=')?;
        let key = rest[..eq].trim();
        let value = rest[eq + 1..].trim_start();
        let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let close = value[1..].find(quote)?;
        if key == name {
            return Some(&value[1..1 + close]);
        }
        rest = &value[1 + close + 1..];
    }
}

/// OME-XML: `None` when the description is not OME-XML; else the microns per pixel from the
/// first `Pixels` element's `PhysicalSizeX` and `PhysicalSizeXUnit` (default µm), or why
/// there is none.
pub(crate) fn ome_pixels(description: &str) -> Option<Result<f64, String>> {
    let start = description.trim_start();
    if !(start.starts_with('<') && start_tag(description, "OME").is_some()) {
        return None;
    }
    let Some(pixels) = start_tag(description, "Pixels") else {
        return Some(Err("the OME-XML has no Pixels element".into()));
    };
    let Some(size) = attribute(pixels, "PhysicalSizeX") else {
        return Some(Err("the OME-XML Pixels element has no PhysicalSizeX".into()));
    };
    let Ok(size) = size.trim().parse::<f64>() else {
        return Some(Err(format!("OME PhysicalSizeX {size:?} is not a number")));
    };
    let unit = attribute(pixels, "PhysicalSizeXUnit").unwrap_or("µm");
    let Some(factor) = micrometres_per(unit) else {
        return Some(Err(format!(
            "OME PhysicalSizeXUnit {unit:?} is not a length unit"
        )));
    };
    let mpp = size * factor;
    Some(if mpp > 0.0 && mpp.is_finite() {
        Ok(mpp)
    } else {
        Err(format!(
            "OME PhysicalSizeX {size} {unit} is not a positive length"
        ))
    })
}

/// Micrometres in one `unit` (the OME UnitsLength symbols of plausible pixel sizes).
fn micrometres_per(unit: &str) -> Option<f64> {
    Some(match unit.trim() {
        "µm" | "μm" | "um" | "&#181;m" | "&#xB5;m" => 1.0,
        "nm" => 1e-3,
        "pm" => 1e-6,
        "Å" | "&#197;" => 1e-4,
        "mm" => 1e3,
        "cm" => 1e4,
        "m" => 1e6,
        _ => return None,
    })
}

/// An open element while scanning Philips XML.
struct Open<'a> {
    name: &'a str,
    object_type: Option<&'a str>,
    attribute_name: Option<&'a str>,
    image_type: Option<String>,
    spacing: Option<(f64, f64)>,
}

/// Deepest element nesting followed in Philips XML.
const MAX_XML_DEPTH: usize = 256;

/// Philips: `DICOM_PIXEL_SPACING` (row, column spacing in mm) given directly on the WSI
/// `DPScannedImage` (else on the `DPUfsImport` root), as OpenSlide reads it. The spacings of
/// the pixel data representations nested deeper (one per level) do not count.
pub(crate) fn philips_pixel_spacing(xml: &str) -> Option<(f64, f64)> {
    let mut stack: Vec<Open<'_>> = Vec::new();
    let (mut wsi, mut root) = (None, None);
    let mut pos = 0;
    while let Some(found) = xml[pos..].find('<') {
        let start = pos + found;
        let text = &xml[pos..start];
        if let [.., parent, top] = stack.as_mut_slice()
            && top.name == "Attribute"
            && parent.name == "DataObject"
            && !text.trim().is_empty()
        {
            match top.attribute_name {
                Some("DICOM_PIXEL_SPACING") => parent.spacing = parse_spacing(text),
                Some("PIM_DP_IMAGE_TYPE") => parent.image_type = Some(text.trim().to_string()),
                _ => {}
            }
        }
        let end = start + xml[start..].find('>')?;
        let tag = &xml[start + 1..end];
        pos = end + 1;
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if tag.starts_with('/') {
            if let Some(closed) = stack.pop() {
                match (closed.name, closed.object_type) {
                    ("DataObject", Some("DPScannedImage"))
                        if closed.image_type.as_deref() == Some("WSI") =>
                    {
                        wsi = wsi.or(closed.spacing);
                    }
                    ("DataObject", Some("DPUfsImport")) => root = root.or(closed.spacing),
                    _ => {}
                }
            }
            continue;
        }
        if tag.ends_with('/') {
            continue;
        }
        let name = tag
            .split(|c: char| c.is_whitespace())
            .next()
            .unwrap_or_default();
        let attributes = &tag[name.len()..];
        if stack.len() >= MAX_XML_DEPTH {
            return None;
        }
        stack.push(Open {
            name,
            object_type: attribute(attributes, "ObjectType"),
            attribute_name: attribute(attributes, "Name"),
            image_type: None,
            spacing: None,
        });
    }
    wsi.or(root)
}

/// `"0.000227" "0.000227"` (quotes written as `&quot;` or `"`).
fn parse_spacing(text: &str) -> Option<(f64, f64)> {
    let text = text.replace("&quot;", "\"");
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
}
