/*
 * Imports the GeoJSON `aignostics results qupath` wrote into every image of a QuPath project.
 *
 * In QuPath (0.4 or later): Automate > Script editor, open this file, set FOLDER below, then
 * Run > Run for project. Each image gets the file named after it (`a.svs` reads
 * `a.svs.geojson`): cells as detections, tissue and quality-control regions as annotations,
 * with their classes and colours. Images without a file are left as they are.
 */
def FOLDER = '/path/to/qupath'   // the folder given to `aignostics results qupath --out`

def name = getProjectEntry().getImageName()
def file = new File(FOLDER, name + '.geojson')
if (!file.isFile()) {
    println "No aignostics objects for ${name} (looked for ${file})"
    return
}
// Objects from an earlier import are replaced, so running the script twice adds nothing twice.
clearAllObjects()
importObjectsFromFile(file.getAbsolutePath())
println "Imported ${file.getName()} into ${name}"
