//! The attribute that derives the async facade of the `aignostics` crate
//! (`aignostics::nonblocking`, feature `async`) from the blocking handlers. Internal to that
//! crate: the code it emits names `crate::nonblocking`.
//!
//! `#[twin]` on an inherent `impl Handler { … }` block keeps the block as it is and adds an
//! `impl crate::nonblocking::Handler { … }` with one twin per `pub fn`, under
//! `#[cfg(feature = "async")]`:
//!
//! | Blocking method | Twin |
//! |---|---|
//! | `&self`, returns `Result<T>` | `pub async fn` running the call on tokio's blocking pool (`crate::nonblocking::blocking`) with a clone of the blocking handler; a handler `T` becomes its async twin |
//! | returns a handler or list builder (`Run`, `ListItems`, `Self`, …) | `pub fn` wrapping the blocking result with `From` |
//! | `&self`, returns a borrow (`&str`, `Option<&str>`) | `pub fn` returning the blocking handler's value |
//!
//! Arguments become owned, since the work moves to another thread: `&str` → `String`,
//! `Option<&str>` → `Option<String>`, `&Path` and `impl AsRef<Path>` → `PathBuf`, `&[T]` →
//! `Vec<T>`, `&T` → `T`; owned types and `impl Into<String>` stay. The twin's doc is the first
//! clause of the blocking doc and a link to the blocking method.
//!
//! Options on a method, written `#[cfg_attr(feature = "async", twin(…))]` (the attribute exists
//! only with the feature) or `#[twin(…)]`, and removed from the blocking method:
//! - `skip`: no twin (the blocking client's constructors, its engine);
//! - `io`: the method does I/O but returns a plain value, never an error: the twin is an
//!   `async fn` on the pool returning `Result<T>` (an error only when the runtime cancels it).
//!
//! Anything else (an associated function, `&mut self`, generics, an argument or return type
//! without a rule) is a compile error naming the method: give it a supported signature or mark
//! it. No public method is dropped silently.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::punctuated::Punctuated;
use syn::{
    Attribute, Expr, FnArg, GenericArgument, Ident, ImplItem, ImplItemFn, ItemImpl, Lit, Meta, Pat,
    PathArguments, ReceiverKind, ReturnType, Safety, Token, Type, TypeParamBound, Visibility,
};

/// The blocking types with an async twin of the same name in `crate::nonblocking` (handlers and
/// list builders): a method returning one of them returns its twin.
const HANDLERS: &[&str] = &[
    "Client",
    "Applications",
    "Versions",
    "Documents",
    "Runs",
    "Run",
    "Artifact",
    "Grants",
    "ShareTokens",
    "ListApplications",
    "ListRuns",
    "ListItems",
    "ListGrants",
    "ListShareTokens",
];

/// How to mark a method that must not or cannot be derived (for error messages).
const MARK: &str = "mark it `#[cfg_attr(feature = \"async\", twin(skip))]` to give it no twin";

/// Derives the async twins of the public methods of an inherent `impl` block; see the crate
/// docs.
#[proc_macro_attribute]
pub fn twin(
    attr: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    expand(attr.into(), item.into()).into()
}

/// The block (without the twin options) followed by its twins, or by the errors.
fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut block: ItemImpl = match syn::parse2(item) {
        Ok(block) => block,
        Err(e) => return e.to_compile_error(),
    };
    match twins(attr, &mut block) {
        Ok(twins) => quote!(#block #twins),
        Err(e) => {
            let errors = e.to_compile_error();
            quote!(#block #errors)
        }
    }
}

/// What a method's options ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The twin follows from the signature.
    Derive,
    /// No twin.
    Skip,
    /// An async twin returning `Result<T>` for a method returning a plain `T`.
    Io,
}

/// Removes the twin options from the methods of `block` and returns the twin `impl` block.
fn twins(attr: TokenStream, block: &mut ItemImpl) -> syn::Result<TokenStream> {
    if !attr.is_empty() {
        return Err(syn::Error::new_spanned(
            attr,
            "`twin` takes no arguments on the impl block; options go on its methods",
        ));
    }
    if let Some((path, _)) = &block.trait_ {
        return Err(syn::Error::new_spanned(
            path,
            "`twin` derives async twins of inherent methods, not of a trait impl",
        ));
    }
    if !block.generics.params.is_empty() || block.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &block.generics,
            "`twin` needs an impl block without generics",
        ));
    }
    let handler = match &*block.self_ty {
        Type::Path(p) if p.qself.is_none() => p.path.get_ident().cloned(),
        _ => None,
    }
    .ok_or_else(|| {
        syn::Error::new_spanned(
            &block.self_ty,
            "`twin` needs `impl Handler` with a plain type name",
        )
    })?;

    let mut methods = Vec::new();
    let mut errors: Option<syn::Error> = None;
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else {
            continue;
        };
        let result =
            take_mode(&mut method.attrs).and_then(|mode| twin_method(&handler, method, mode));
        match result {
            Ok(Some(twin)) => methods.push(twin),
            Ok(None) => {}
            Err(e) => match &mut errors {
                Some(all) => all.combine(e),
                None => errors = Some(e),
            },
        }
    }
    if let Some(errors) = errors {
        return Err(errors);
    }
    if methods.is_empty() {
        return Ok(TokenStream::new());
    }
    Ok(quote! {
        #[cfg(feature = "async")]
        impl crate::nonblocking::#handler {
            #(#methods)*
        }
    })
}

/// Reads and removes the twin options (`#[twin(…)]` or
/// `#[cfg_attr(feature = "async", twin(…))]`) of a method.
fn take_mode(attrs: &mut Vec<Attribute>) -> syn::Result<Mode> {
    let mut mode = None;
    let mut kept = Vec::with_capacity(attrs.len());
    for attr in attrs.drain(..) {
        let Some(options) = twin_options(&attr)? else {
            kept.push(attr);
            continue;
        };
        if mode.is_some() {
            return Err(syn::Error::new_spanned(attr, "twin options given twice"));
        }
        mode = Some(options);
    }
    *attrs = kept;
    Ok(mode.unwrap_or(Mode::Derive))
}

/// The options of `attr` when it is a twin attribute.
fn twin_options(attr: &Attribute) -> syn::Result<Option<Mode>> {
    let Meta::List(list) = &attr.meta else {
        return Ok(None);
    };
    if list.path.is_ident("twin") {
        return parse_options(list).map(Some);
    }
    if !list.path.is_ident("cfg_attr") {
        return Ok(None);
    }
    let metas = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)?;
    let inner: Vec<&Meta> = metas.iter().skip(1).collect();
    let Some(Meta::List(twin)) = inner.iter().find(|m| m.path().is_ident("twin")) else {
        return Ok(None);
    };
    let predicate = metas.first().map(|m| m.to_token_stream().to_string());
    if inner.len() != 1 || predicate.as_deref() != Some("feature = \"async\"") {
        return Err(syn::Error::new_spanned(
            attr,
            "write twin options alone as `#[cfg_attr(feature = \"async\", twin(…))]`",
        ));
    }
    parse_options(twin).map(Some)
}

/// The one option inside `twin(…)`.
fn parse_options(list: &syn::MetaList) -> syn::Result<Mode> {
    let mut mode = None;
    list.parse_nested_meta(|meta| {
        let this = if meta.path.is_ident("skip") {
            Mode::Skip
        } else if meta.path.is_ident("io") {
            Mode::Io
        } else {
            return Err(meta.error("unknown twin option: expected `skip` or `io`"));
        };
        if mode.replace(this).is_some() {
            return Err(meta.error("give one twin option"));
        }
        Ok(())
    })?;
    mode.ok_or_else(|| syn::Error::new_spanned(list, "expected `twin(skip)` or `twin(io)`"))
}

/// An argument of the twin: its parameter, how the blocking call receives it and, for an async
/// twin, what to do with it before the work moves to the pool.
struct Param {
    name: Ident,
    ty: TokenStream,
    call: TokenStream,
    before_async: Option<TokenStream>,
}

/// The blocking method's receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receiver {
    /// `&self`
    Ref,
    /// `self` (or `mut self`)
    Value,
}

/// What the blocking method returns.
enum Output {
    /// `Result<T>`: the `Result` type as written and `T` mapped to its twin if it is a handler.
    Result {
        written: Box<Type>,
        twin: Option<Box<Type>>,
    },
    /// A handler or list builder, mapped to its twin.
    Handler(Type),
    /// A borrow (`&T`, `Option<&T>`).
    Borrow(Type),
    /// Anything else.
    Plain(Type),
}

/// The twin of one method of `handler`, `None` when it has none (not public, or skipped).
fn twin_method(
    handler: &Ident,
    method: &ImplItemFn,
    mode: Mode,
) -> syn::Result<Option<TokenStream>> {
    let sig = &method.sig;
    let name = &sig.ident;
    let what = format!("`{handler}::{name}`");
    if !matches!(method.vis, Visibility::Public(_)) {
        if mode != Mode::Derive {
            return Err(syn::Error::new_spanned(
                name,
                format!("{what}: twin options are for public methods; private ones get no twin"),
            ));
        }
        return Ok(None);
    }
    if mode == Mode::Skip {
        return Ok(None);
    }
    let unsupported = |tokens: &dyn ToTokens, why: &str| {
        syn::Error::new_spanned(
            tokens,
            format!("{what} has no async twin: {why}; give it a supported signature or {MARK}"),
        )
    };
    if sig.constness.is_some()
        || sig.asyncness.is_some()
        || !matches!(sig.safety, Safety::Default)
        || sig.abi.is_some()
        || sig.variadic.is_some()
    {
        return Err(unsupported(
            sig,
            "it is `const`, `async`, `unsafe` or `extern`",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(unsupported(
            &sig.generics,
            "generic methods are not derived (`impl Into<String>` and `impl AsRef<Path>` arguments are)",
        ));
    }
    let receiver = match sig.receiver() {
        None => {
            return Err(unsupported(
                name,
                "it is an associated function (no `self`)",
            ));
        }
        Some(r) => match &r.kind {
            ReceiverKind::Reference(_, _, None) => Receiver::Ref,
            ReceiverKind::Value => Receiver::Value,
            _ => {
                return Err(unsupported(
                    r,
                    "only `&self` and `self` receivers are derived",
                ));
            }
        },
    };
    let params = sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(arg) => Some(param(arg).map_err(|why| unsupported(arg, &why))),
            FnArg::Receiver(_) => None,
        })
        .collect::<syn::Result<Vec<_>>>()?;
    let output = output(&sig.output);

    let doc = format!(" {}", twin_doc(handler, name, &method.attrs));
    let cfgs = method.attrs.iter().filter(|a| a.path().is_ident("cfg"));
    let must_use = method
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("must_use"));
    let names = params.iter().map(|p| &p.name);
    let types = params.iter().map(|p| &p.ty);
    let signature = quote!(#(, #names: #types)*);
    let calls = params.iter().map(|p| &p.call);
    let call = quote!(#name(#(#calls),*));

    // Skipped methods returned above.
    let twin = match (output, mode == Mode::Io) {
        (Output::Result { written, twin }, false) => {
            if receiver != Receiver::Ref {
                return Err(unsupported(sig, "a fallible call must take `&self`"));
            }
            let (ret, wrap) = match twin {
                Some(twin) => (result_of(&written, &twin), quote!(.map(<#twin>::from))),
                None => (written.to_token_stream(), TokenStream::new()),
            };
            async_twin(
                name,
                &doc,
                cfgs,
                &params,
                &signature,
                &ret,
                |h| quote!(#h.#call #wrap),
            )
        }
        (Output::Plain(ty), true) => {
            if receiver != Receiver::Ref {
                return Err(unsupported(sig, "`twin(io)` needs `&self`"));
            }
            let ret = quote!(crate::Result<#ty>);
            async_twin(
                name,
                &doc,
                cfgs,
                &params,
                &signature,
                &ret,
                |h| quote!(::core::result::Result::Ok(#h.#call)),
            )
        }
        (_, true) => {
            return Err(unsupported(
                &sig.output,
                "`twin(io)` is for a method returning a plain value, not a `Result`, handler or borrow",
            ));
        }
        (Output::Handler(twin), _) => {
            let this = match receiver {
                Receiver::Ref => quote!(&self),
                Receiver::Value => quote!(self),
            };
            quote! {
                #(#cfgs)*
                #(#must_use)*
                #[doc = #doc]
                pub fn #name(#this #signature) -> #twin {
                    <#twin>::from(self.inner.#call)
                }
            }
        }
        (Output::Borrow(ty), _) => {
            if receiver != Receiver::Ref {
                return Err(unsupported(sig, "an accessor must take `&self`"));
            }
            quote! {
                #(#cfgs)*
                #(#must_use)*
                #[doc = #doc]
                pub fn #name(&self #signature) -> #ty {
                    self.inner.#call
                }
            }
        }
        (Output::Plain(ty), _) => {
            return Err(unsupported(
                &sig.output,
                &format!(
                    "it returns `{}`, which is neither a `Result`, a handler nor a borrow \
                     (mark a call that does I/O but never fails `twin(io)`)",
                    pretty(&ty)
                ),
            ));
        }
    };
    Ok(Some(twin))
}

/// An `async fn` twin: the arguments are prepared, the blocking handler is cloned and `call`
/// (given the clone) runs on the blocking pool.
fn async_twin<'a>(
    name: &Ident,
    doc: &str,
    cfgs: impl Iterator<Item = &'a Attribute>,
    params: &[Param],
    signature: &TokenStream,
    ret: &TokenStream,
    call: impl FnOnce(&Ident) -> TokenStream,
) -> TokenStream {
    // Mixed-site hygiene: no argument of the blocking method can shadow it.
    let handler = Ident::new("blocking_handler", Span::mixed_site());
    let before = params.iter().filter_map(|p| p.before_async.as_ref());
    let body = call(&handler);
    quote! {
        #(#cfgs)*
        #[doc = #doc]
        pub async fn #name(&self #signature) -> #ret {
            #(#before)*
            let #handler = ::core::clone::Clone::clone(&self.inner);
            crate::nonblocking::blocking(move || #body).await
        }
    }
}

/// The twin's form of one argument, or why there is none.
fn param(arg: &syn::PatType) -> Result<Param, String> {
    let shown = pretty(arg);
    let name = match &*arg.pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
        _ => return Err(format!("the argument `{shown}` is not a plain name")),
    };
    let owned = |ty: TokenStream, call: TokenStream| Param {
        name: name.clone(),
        ty,
        call,
        before_async: None,
    };
    let no_rule = || {
        format!(
            "the argument `{shown}` has no owned form (the rules: `&str`, `Option<&str>`, \
             `&Path`, `impl AsRef<Path>`, `&[T]`, `&T`, `impl Into<String>`, owned types)"
        )
    };
    let ty = &*arg.ty;
    if let Type::Reference(r) = ty {
        if r.mutability.is_some() || borrows(&r.elem) {
            return Err(no_rule());
        }
        let elem = &*r.elem;
        let twin = if is_named(elem, "str") {
            quote!(::std::string::String)
        } else if is_named(elem, "Path") {
            quote!(::std::path::PathBuf)
        } else if let Type::Slice(slice) = elem {
            let item = &slice.elem;
            quote!(::std::vec::Vec<#item>)
        } else if mentions_self(elem) {
            return Err(no_rule());
        } else {
            elem.to_token_stream()
        };
        return Ok(owned(twin, quote!(&#name)));
    }
    if let Some(Type::Reference(r)) = generic_arg(ty, "Option") {
        if r.mutability.is_none() && is_named(&r.elem, "str") {
            return Ok(owned(
                quote!(::core::option::Option<::std::string::String>),
                quote!(#name.as_deref()),
            ));
        }
        return Err(no_rule());
    }
    if let Type::ImplTrait(bounds) = ty {
        let bound = match bounds.bounds.first() {
            Some(TypeParamBound::Trait(t)) if bounds.bounds.len() == 1 => &t.path,
            _ => return Err(no_rule()),
        };
        let last = bound.segments.last().map(|s| (&s.ident, &s.arguments));
        let single = |args: &PathArguments, wanted: &str| match args {
            PathArguments::AngleBracketed(a) => {
                a.args.len() == 1
                    && matches!(a.args.first(), Some(GenericArgument::Type(t)) if is_named(t, wanted))
            }
            _ => false,
        };
        return match last {
            Some((trait_, args)) if trait_ == "AsRef" && single(args, "Path") => {
                Ok(owned(quote!(::std::path::PathBuf), quote!(#name)))
            }
            Some((trait_, args)) if trait_ == "Into" && single(args, "String") => Ok(Param {
                before_async: Some(quote!(let #name: ::std::string::String = #name.into();)),
                ..owned(ty.to_token_stream(), quote!(#name))
            }),
            _ => Err(no_rule()),
        };
    }
    if borrows(ty) || mentions_self(ty) {
        return Err(no_rule());
    }
    Ok(owned(ty.to_token_stream(), quote!(#name)))
}

/// Tokens as Rust is usually written (`&mut Vec<u8>`, not `& mut Vec < u8 >`), for messages.
fn pretty(tokens: &dyn ToTokens) -> String {
    let mut text = tokens.to_token_stream().to_string();
    for (from, to) in [
        (" : ", ": "),
        ("& ", "&"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        (" :: ", "::"),
        (":: ", "::"),
        ("' ", "'"),
    ] {
        text = text.replace(from, to);
    }
    text
}

/// What a method returns.
fn output(ret: &ReturnType) -> Output {
    let ty = match ret {
        ReturnType::Default => return Output::Plain(syn::parse_quote!(())),
        ReturnType::Type(_, ty) => &**ty,
    };
    if let Some(inner) = generic_arg(ty, "Result") {
        return Output::Result {
            written: Box::new(ty.clone()),
            twin: handler_twin(inner).map(Box::new),
        };
    }
    if let Some(twin) = handler_twin(ty) {
        return Output::Handler(twin);
    }
    let borrowed = match ty {
        Type::Reference(_) => true,
        _ => matches!(generic_arg(ty, "Option"), Some(Type::Reference(_))),
    };
    if borrowed && !mentions_self(ty) {
        return Output::Borrow(ty.clone());
    }
    Output::Plain(ty.clone())
}

/// The async twin of a handler type (`Self` stays `Self`, which names the twin in its impl).
fn handler_twin(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else {
        return None;
    };
    let ident = p.path.get_ident()?;
    if p.qself.is_some() {
        return None;
    }
    if ident == "Self" {
        return Some(ty.clone());
    }
    HANDLERS
        .iter()
        .any(|h| ident == h)
        .then(|| syn::parse_quote!(crate::nonblocking::#ident))
}

/// `written` (a `Result<T>`) with `T` replaced by `twin`.
fn result_of(written: &Type, twin: &Type) -> TokenStream {
    let mut ty = written.clone();
    if let Type::Path(p) = &mut ty
        && let Some(last) = p.path.segments.last_mut()
        && let PathArguments::AngleBracketed(args) = &mut last.arguments
        && let Some(GenericArgument::Type(t)) = args.args.first_mut()
    {
        *t = twin.clone();
    }
    ty.to_token_stream()
}

/// The one type argument of `ty` when it is `name<T>` (by its last path segment).
fn generic_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(p) = ty else {
        return None;
    };
    let last = p.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    match &last.arguments {
        PathArguments::AngleBracketed(a) if a.args.len() == 1 => match a.args.first()? {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        },
        _ => None,
    }
}

/// Whether `ty` is the plain name `name` (its last path segment, without arguments).
fn is_named(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == name && s.arguments.is_empty()),
        _ => false,
    }
}

/// Whether `ty` holds a reference or a lifetime anywhere.
fn borrows(ty: &Type) -> bool {
    any_token(
        ty.to_token_stream(),
        &|t| matches!(t, TokenTree::Punct(p) if p.as_char() == '&' || p.as_char() == '\''),
    )
}

/// Whether `ty` names `Self`, which in the twin's impl block is the async type.
fn mentions_self(ty: &Type) -> bool {
    any_token(
        ty.to_token_stream(),
        &|t| matches!(t, TokenTree::Ident(i) if i == "Self"),
    )
}

/// Whether any token of `tokens`, inside groups too, is one `wanted` accepts.
fn any_token(tokens: TokenStream, wanted: &dyn Fn(&TokenTree) -> bool) -> bool {
    tokens.into_iter().any(|t| match &t {
        TokenTree::Group(g) => any_token(g.stream(), wanted),
        other => wanted(other),
    })
}

/// The twin's doc: the blocking doc's first clause and a link to the blocking method.
fn twin_doc(handler: &Ident, method: &Ident, attrs: &[Attribute]) -> String {
    let link = format!("[`crate::{handler}::{method}`]");
    let summary = summary(&doc_lines(attrs));
    if summary.is_empty() {
        format!("See {link}.")
    } else {
        format!("{summary}; see {link}.")
    }
}

/// The lines of the doc comments in `attrs`.
fn doc_lines(attrs: &[Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) if nv.path.is_ident("doc") => match &nv.value {
                Expr::Lit(e) => match &e.lit {
                    Lit::Str(s) => Some(s.value()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The first clause of a doc's first paragraph: up to the first `.`, `;` or `:` that ends a
/// sentence or clause outside code spans, parentheses and brackets.
fn summary(lines: &[String]) -> String {
    let paragraph = lines
        .iter()
        .map(|l| l.trim())
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let chars: Vec<char> = paragraph.chars().collect();
    let mut depth = 0usize;
    let mut code = false;
    let mut end = chars.len();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '`' => code = !code,
            '(' | '[' if !code => depth += 1,
            ')' | ']' if !code => depth = depth.saturating_sub(1),
            '.' | ';' | ':'
                if !code && depth == 0 && chars.get(i + 1).is_none_or(|n| n.is_whitespace()) =>
            {
                end = i;
                break;
            }
            _ => {}
        }
    }
    chars[..end]
        .iter()
        .collect::<String>()
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expansion of `#[twin]` on `block`, as text without spaces.
    fn expanded(block: TokenStream) -> String {
        expand(TokenStream::new(), block)
            .to_string()
            .replace(' ', "")
    }

    /// The compile errors of `#[twin]` on `block`.
    fn errors(block: TokenStream) -> String {
        let mut block: ItemImpl = syn::parse2(block).unwrap();
        twins(TokenStream::new(), &mut block)
            .unwrap_err()
            .to_string()
    }

    // Proves a `&str` argument becomes an owned `String` in an async twin on the blocking pool. (FR-43)
    #[test]
    fn borrowed_arguments_become_owned() {
        let out = expanded(quote! {
            impl Run {
                /// One item by its external id (`GET …`; cached 15 s).
                pub fn item(&self, external_id: &str, checksum: Option<&str>, dir: impl AsRef<Path>, options: &WaitOptions) -> Result<Arc<Item>> { todo!() }
            }
        });
        assert!(out.contains("implcrate::nonblocking::Run{"), "{out}");
        assert!(
            out.contains(
                "pubasyncfnitem(&self,external_id:::std::string::String,\
                 checksum:::core::option::Option<::std::string::String>,\
                 dir:::std::path::PathBuf,options:WaitOptions)->Result<Arc<Item>>"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "crate::nonblocking::blocking(move||blocking_handler.item(&external_id,\
                 checksum.as_deref(),dir,&options)).await"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "#[doc=\"Oneitembyitsexternalid(`GET…`;cached15s);see[`crate::Run::item`].\"]"
            ),
            "{out}"
        );
    }

    // Proves a handler in a result or return value becomes its async twin, and accessors stay sync. (FR-43)
    #[test]
    fn handlers_become_their_twins() {
        let out = expanded(quote! {
            impl Runs {
                /// Submits a run.
                pub fn submit(&self, request: RunCreationRequest) -> Result<Run> { todo!() }
                /// Submits with options.
                pub fn submit_with(&self, request: RunCreationRequest, options: &SubmitOptions) -> Result<Submitted> { todo!() }
                /// The run list.
                pub fn list(&self) -> ListRuns { todo!() }
                /// A handle.
                #[must_use]
                pub fn with_share_token(mut self, share_token: impl Into<String>) -> Self { todo!() }
                /// The id.
                pub fn id(&self) -> &str { todo!() }
            }
        });
        assert!(
            out.contains("->Result<crate::nonblocking::Run>{")
                && out.contains(".submit(request).map(<crate::nonblocking::Run>::from))"),
            "{out}"
        );
        assert!(out.contains("->Result<Submitted>{"), "{out}");
        assert!(
            out.contains(
                "pubfnlist(&self)->crate::nonblocking::ListRuns{<crate::nonblocking::ListRuns>::from(self.inner.list())}"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "#[must_use]#[doc=\"Ahandle;see[`crate::Runs::with_share_token`].\"]\
                 pubfnwith_share_token(self,share_token:implInto<String>)->Self{<Self>::from(self.inner.with_share_token(share_token))}"
            ),
            "{out}"
        );
        assert!(
            out.contains("pubfnid(&self)->&str{self.inner.id()}"),
            "{out}"
        );
    }

    // Proves a method marked skip gets no twin, `io` wraps a plain value, and the marks leave the blocking methods. (FR-43)
    #[test]
    fn options_are_honoured_and_removed() {
        let out = expanded(quote! {
            impl Client {
                /// A client.
                #[cfg_attr(feature = "async", twin(skip))]
                pub fn new() -> Result<Self> { todo!() }
                /// The engine.
                #[twin(skip)]
                pub fn api(&self) -> &Arc<Api> { todo!() }
                /// The platform's health as this client sees it; see [`crate::health`].
                #[cfg_attr(feature = "async", twin(io))]
                pub fn health(&self) -> Health { todo!() }
                pub(crate) fn until(&self, deadline: Deadline) -> Client { todo!() }
            }
        });
        assert!(!out.contains("twin("), "{out}");
        let (_, twins) = out.split_once("implcrate::nonblocking::Client{").unwrap();
        assert!(
            !twins.contains("fnnew") && !twins.contains("fnapi"),
            "{twins}"
        );
        assert!(!twins.contains("fnuntil"), "{twins}");
        assert!(
            out.contains(
                "#[doc=\"Theplatform'shealthasthisclientseesit;see[`crate::Client::health`].\"]\
                 pubasyncfnhealth(&self)->crate::Result<Health>"
            ),
            "{out}"
        );
        assert!(
            out.contains("::core::result::Result::Ok(blocking_handler.health())"),
            "{out}"
        );
    }

    // Proves a public method the rules cannot translate is a compile error naming it, never dropped. (FR-43)
    #[test]
    fn untranslatable_methods_are_errors() {
        let cases = [
            (
                quote!(impl Client { pub fn health(&self) -> Health { todo!() } }),
                "`Client::health`",
            ),
            (
                quote!(impl Client { pub fn new() -> Result<Self> { todo!() } }),
                "associated function",
            ),
            (
                quote!(impl Run { pub fn f(&mut self) -> Result<()> { todo!() } }),
                "receivers",
            ),
            (
                quote!(impl Run { pub fn f(&self, b: &mut Vec<u8>) -> Result<()> { todo!() } }),
                "no owned form",
            ),
            (
                quote!(impl Run { pub fn f(&self, b: Option<&Path>) -> Result<()> { todo!() } }),
                "no owned form",
            ),
            (
                quote!(impl Run { pub fn f<T>(&self, t: T) -> Result<()> { todo!() } }),
                "generic",
            ),
            (
                quote!(impl Run { pub fn f(self) -> Result<()> { todo!() } }),
                "`&self`",
            ),
            (
                quote!(impl Run { #[twin(io)] pub fn f(&self) -> Result<()> { todo!() } }),
                "plain value",
            ),
            (
                quote!(impl Run { #[twin(sometimes)] pub fn f(&self) -> Result<()> { todo!() } }),
                "unknown twin option",
            ),
            (
                quote!(impl Run { #[twin(skip)] fn f(&self) -> Result<()> { todo!() } }),
                "public methods",
            ),
        ];
        for (block, expected) in cases {
            let message = errors(block.clone());
            assert!(message.contains(expected), "{block}: {message}");
        }
        let both = errors(quote!(impl Run {
            pub fn a(&self) -> Plain { todo!() }
            pub fn b(&self) -> Plain { todo!() }
        }));
        assert!(both.contains("`Run::a`"), "{both}");
        let shown = errors(
            quote!(impl Run { pub fn f(&self, b: &mut Vec<std::string::String>) -> Result<()> { todo!() } }),
        );
        assert!(
            shown.contains("`b: &mut Vec<std::string::String>`"),
            "{shown}"
        );
        // Every failing method is reported, with the original block kept for further checks.
        let out = expand(
            TokenStream::new(),
            quote!(impl Run { pub fn a(&self) -> Plain { todo!() } pub fn b(&self) -> Plain { todo!() } }),
        )
        .to_string();
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
        assert!(out.starts_with("impl Run"), "{out}");
    }

    // Proves the twin's doc is the first clause of the blocking doc, outside code and parentheses. (FR-43)
    #[test]
    fn summaries_end_at_the_first_clause() {
        let cases = [
            ("The run id.", "The run id"),
            (
                "The current user (`GET /v1/me`; cached 300 s). More.",
                "The current user (`GET /v1/me`; cached 300 s)",
            ),
            (
                "Lets a subject read this run: creates a grant",
                "Lets a subject read this run",
            ),
            ("A handle on a run; no I/O until", "A handle on a run"),
            (
                "Reads `a.b` and [`x`](crate::X::y). Then",
                "Reads `a.b` and [`x`](crate::X::y)",
            ),
            ("", ""),
        ];
        for (doc, expected) in cases {
            assert_eq!(summary(&[format!(" {doc}")]), expected);
        }
        let wrapped = [
            " The versions of an application, as the".to_string(),
            " platform lists them.".to_string(),
            String::new(),
            " Later.".to_string(),
        ];
        assert_eq!(
            summary(&wrapped),
            "The versions of an application, as the platform lists them"
        );
    }
}
