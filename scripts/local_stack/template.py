"""Read infra/cdn-onboard.yaml so the local stack builds what the template defines.

A YAML loader that accepts CloudFormation's short tags (!Ref, !Sub, !GetAtt, ...) as their long
forms, and a resolver for the intrinsics the table and queues use: Ref to parameters (their
defaults) and to resources already created, Fn::Sub, Fn::GetAtt, Fn::FindInMap and Fn::Join.
"""

import re

import yaml

_SHORT_TAGS = ["Ref", "Condition"] + [
    f"Fn::{name}"
    for name in (
        "Sub", "GetAtt", "FindInMap", "Join", "Select", "Split", "If", "Equals", "Not", "And",
        "Or", "Base64", "GetAZs", "ImportValue", "Cidr", "Length", "ToJsonString",
    )
]


class _Loader(yaml.SafeLoader):
    pass


def _long_form(name):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


for _name in _SHORT_TAGS:
    _Loader.add_constructor("!" + _name.replace("Fn::", ""), _long_form(_name))


class Template:
    """A parsed template plus the values its intrinsics resolve to."""

    def __init__(self, path, parameters=None):
        with open(path) as handle:
            self.body = yaml.load(handle, Loader=_Loader)
        self.parameters = {
            name: str(spec["Default"])
            for name, spec in self.body.get("Parameters", {}).items()
            if "Default" in spec
        }
        self.parameters.update(parameters or {})
        self.parameters.update({"AWS::Region": "us-east-1", "AWS::Partition": "aws"})
        # Logical id -> {"Ref": ..., attribute: ...}, filled in as resources are created.
        self.created = {}

    def resource(self, logical_id):
        return self.body["Resources"][logical_id]

    def properties(self, logical_id):
        return self.resolve(self.resource(logical_id).get("Properties", {}))

    def resolve(self, value):
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key == "Fn::GetAtt":
                return self.created[argument[0]][argument[1]]
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::FindInMap":
                mapping, top, second = self.resolve(argument)
                return self.body["Mappings"][mapping][str(top)][second]
            if key == "Fn::Join":
                separator, items = argument
                return separator.join(str(item) for item in self.resolve(items))
            if key.startswith("Fn::"):
                raise ValueError(f"template intrinsic {key} is not supported by the local stack")
        return {key: self.resolve(item) for key, item in value.items()}

    def _ref(self, name):
        if name in self.parameters:
            return self.parameters[name]
        if name in self.created:
            return self.created[name]["Ref"]
        raise KeyError(f"template Ref {name}: no parameter default and not created yet")

    def _sub(self, argument):
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = self.resolve(variables)

        def substitute(match):
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return str(self.created[logical_id][attribute])
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", substitute, text)


def main():
    """Print a template as JSON, short tags in their long forms: `template.py FILE`. The infra
    tests read templates this way."""
    import json
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: template.py TEMPLATE_FILE")
    print(json.dumps(Template(sys.argv[1]).body, indent=2, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
